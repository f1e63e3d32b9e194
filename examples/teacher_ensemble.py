"""Distil an ensemble of teachers, and let a distilled student teach the next.

A list of teachers is a teacher: ``teacher=[forest, boosting]`` averages the
members' class probabilities (or, for a regressor, their predictions), and
``teacher=[(forest, 0.7), (boosting, 0.3)]`` weighs them. The members are
fitted models used as they are, each queried once on the training rows.
``EnsembleTeacher(members, weights, average=...)`` chooses where class
scores are averaged: ``'proba'`` (the default, an arithmetic mean of the
members' probabilities, as bagging and Hinton et al.'s ensembles of
specialists do) or ``'logits'`` (a mean of centred logits, the geometric mean
of the probabilities: a class any member rules out is ruled out).

Parts 1 and 2 each compare against the same 2x64 MLP trained from scratch
(``alpha=1, beta=0``) and distilled from each member alone:

1. classification on scikit-learn's digits (8x8 images, bundled): a random
   forest and a ``HistGradientBoostingClassifier``, probabilities averaged;
   test accuracy of every teacher and student, and its agreement with the
   equally weighted ensemble;
2. regression on Friedman #1 (``make_friedman1`` with noise): a random forest
   and a ``HistGradientBoostingRegressor``, predictions averaged; test R^2 and
   fidelity to the equally weighted ensemble (R^2 against its predictions).

3. on digits again, the weighted ensemble averaged in probability and in
   logit space: each ensemble's test accuracy and mean confidence (largest
   probability; a forest gives many classes probability 0, which the logit
   average turns into a veto), and the students distilled from each;
4. born-again networks (Furlanello et al., "Born-again neural networks",
   ICML 2018): a fitted distiller is itself a teacher, so the student of part
   1 (distilled from the boosting model) teaches a second student of the same
   architecture, through its outputs alone or with FitNets on its last hidden
   layer (``FeatureMatching(teacher_layer='hidden_2')``: a distilled
   student's layers are features like a torch teacher's). Agreement is
   measured against the first student.

The teachers' scores come from the library's teacher adapter
(``sklearn_kd.teachers.as_teacher``), the object the distiller queries: for a
list, the average it distils. Boosting is nearly certain on the rows it was
fitted on, so in an equal average of probabilities it outweighs the forest's
softer votes there.

Run ``python examples/teacher_ensemble.py`` (about a minute on 2 cores), or
pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: with torch and scikit-learn's
# OpenMP runtimes in one process, HistGradientBoosting can otherwise crawl on a
# busy machine (the quick run: 111 s instead of 9 s on a shared 2-core box).
# Set before numpy, scikit-learn and torch load; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits, make_friedman1
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import FeatureMatching
from sklearn_kd.teachers import EnsembleTeacher, as_teacher


def teacher_output(teacher, X, signal):
    """What the distiller gets from a teacher (or a teacher list) on ``X``."""
    return as_teacher(teacher).query(X, [signal])[signal]


def print_table(title, columns, rows):
    header = f"{'model':<48}" + "".join(f"{c:>12}" for c in columns)
    print()
    print(title)
    print(header)
    print("-" * len(header))
    for name, values in rows.items():
        print(f"{name:<48}" + "".join(f"{v:>12.4f}" for v in values))


def classification(epochs, n_trees):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    forest = RandomForestClassifier(n_estimators=n_trees, random_state=0)
    boosting = HistGradientBoostingClassifier(max_iter=n_trees, random_state=0)
    forest.fit(X_train, y_train)
    boosting.fit(X_train, y_train)
    teachers = {
        "forest": forest,
        "boosting": boosting,
        "[forest, boosting]": [forest, boosting],
        "[(forest, 0.7), (boosting, 0.3)]": [(forest, 0.7), (boosting, 0.3)],
    }

    def labels(teacher):  # teacher logits -> predicted labels
        return forest.classes_[teacher_output(teacher, X_test, "logits").argmax(1)]

    ensemble = labels([forest, boosting])
    rows = {}
    for name, teacher in teachers.items():
        pred = labels(teacher)
        rows[f"teacher: {name}"] = (np.mean(pred == y_test), np.mean(pred == ensemble))
    common = {"alpha": 0.3, "T": 4.0, "max_epochs": epochs, "random_state": 0}
    students = {
        f"distilled from {name}": DistilledClassifier(teacher, **common)
        for name, teacher in teachers.items()
    }
    students["same MLP from scratch"] = DistilledClassifier(
        forest, **{**common, "alpha": 1.0, "beta": 0.0}
    )
    for name, student in students.items():
        pred = student.fit(X_train, y_train).predict(X_test)
        rows[name] = (np.mean(pred == y_test), np.mean(pred == ensemble))
    print_table(
        f"1. digits ({len(X_train)} train, {len(X_test)} test rows; alpha=0.3, T=4)",
        ("test acc", "agreement"),
        rows,
    )
    context = {
        "data": (X_train, X_test, y_train, y_test),
        "forest": forest,
        "boosting": boosting,
        "common": common,
        "students": students,
    }
    return rows, context


def averaging(context):
    """Part 3: the same weighted ensemble averaged as probabilities or logits."""
    X_train, X_test, y_train, y_test = context["data"]
    forest, boosting = context["forest"], context["boosting"]
    rows = {}
    for weights in ([0.5, 0.5], [0.7, 0.3]):
        for average in ("proba", "logits"):
            teacher = EnsembleTeacher([forest, boosting], weights, average=average)
            logits = teacher_output(teacher, X_test, "logits")
            proba = np.exp(logits - logits.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
            labels = forest.classes_[logits.argmax(axis=1)]
            student = DistilledClassifier(teacher, **context["common"])
            pred = student.fit(X_train, y_train).predict(X_test)
            rows[f"weights {weights}, average={average!r}"] = (
                np.mean(labels == y_test),
                proba.max(axis=1).mean(),
                np.mean(pred == y_test),
                np.mean(pred == labels),
            )
    print_table(
        "3. EnsembleTeacher([forest, boosting], weights, average=...) on digits\n"
        "   teacher: test accuracy, mean largest probability; its student: test "
        "accuracy, agreement with the teacher",
        ("teach acc", "confidence", "stud acc", "agreement"),
        rows,
    )
    return rows


def born_again(context):
    """Part 4: a distilled student teaches a second student, born-again style."""
    X_train, X_test, y_train, y_test = context["data"]
    first = context["students"]["distilled from boosting"]
    reference = first.predict(X_test)
    common = context["common"]
    rows = {}
    for name, model in (
        ("boosting (the first student's teacher)", context["boosting"]),
        ("1st generation: distilled from boosting", first),
        ("same MLP from scratch", context["students"]["same MLP from scratch"]),
    ):
        pred = model.predict(X_test)
        rows[name] = (np.mean(pred == y_test), np.mean(pred == reference))
    generations = {
        "2nd generation: outputs": DistilledClassifier(first, **common),
        "2nd generation: outputs + FitNets": DistilledClassifier(
            first,
            terms=[("fitnets", FeatureMatching(1.0, teacher_layer="hidden_2"))],
            **common,
        ),
    }
    for name, student in generations.items():
        pred = student.fit(X_train, y_train).predict(X_test)
        rows[name] = (np.mean(pred == y_test), np.mean(pred == reference))
    third = DistilledClassifier(generations["2nd generation: outputs"], **common)
    pred = third.fit(X_train, y_train).predict(X_test)
    rows["3rd generation: outputs"] = (
        np.mean(pred == y_test),
        np.mean(pred == reference),
    )
    print_table(
        "4. born-again on digits: agreement with the 1st-generation student",
        ("test acc", "agreement"),
        rows,
    )
    return rows


def regression(epochs, n_trees):
    X, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    forest = RandomForestRegressor(n_estimators=n_trees, random_state=0)
    boosting = HistGradientBoostingRegressor(max_iter=n_trees, random_state=0)
    forest.fit(X_train, y_train)
    boosting.fit(X_train, y_train)
    teachers = {
        "forest": forest,
        "boosting": boosting,
        "[forest, boosting]": [forest, boosting],
        "[(forest, 0.3), (boosting, 0.7)]": [(forest, 0.3), (boosting, 0.7)],
    }

    def predictions(teacher):
        return teacher_output(teacher, X_test, "prediction").ravel()

    ensemble = predictions([forest, boosting])
    rows = {}
    for name, teacher in teachers.items():
        pred = predictions(teacher)
        rows[f"teacher: {name}"] = (r2_score(y_test, pred), r2_score(ensemble, pred))
    common = {"alpha": 0.3, "max_epochs": epochs, "random_state": 0}
    students = {
        f"distilled from {name}": DistilledRegressor(teacher, **common)
        for name, teacher in teachers.items()
    }
    students["same MLP from scratch"] = DistilledRegressor(
        forest, **{**common, "alpha": 1.0, "beta": 0.0}
    )
    for name, student in students.items():
        pred = student.fit(X_train, y_train).predict(X_test)
        rows[name] = (r2_score(y_test, pred), r2_score(ensemble, pred))
    print_table(
        f"2. Friedman #1 ({len(X_train)} train, {len(X_test)} test rows; alpha=0.3)",
        ("test R2", "fidelity"),
        rows,
    )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 30 trees, 10 epochs (also SKLEARN_KD_QUICK=1)",
    )
    args = parser.parse_args(argv)
    epochs, n_trees = (10, 30) if args.quick else (100, 200)
    start = time.perf_counter()
    classified, context = classification(epochs, n_trees)
    results = {
        "classification": classified,
        "regression": regression(epochs, n_trees),
        "averaging": averaging(context),
        "born_again": born_again(context),
    }
    print()
    print(f"total time {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
