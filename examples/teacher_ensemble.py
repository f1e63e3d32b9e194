"""Distil an ensemble of a random forest and a gradient-boosting model.

A list of teachers is a teacher: ``teacher=[forest, boosting]`` averages the
members' class probabilities (or, for a regressor, their predictions), and
``teacher=[(forest, 0.7), (boosting, 0.3)]`` weighs them. The members are
fitted models used as they are, each queried once on the training rows.

Two parts, each against the same 2x64 MLP trained from scratch
(``alpha=1, beta=0``) and distilled from each member alone:

1. classification on scikit-learn's digits (8x8 images, bundled): a random
   forest and a ``HistGradientBoostingClassifier``, probabilities averaged;
   test accuracy of every teacher and student, and its agreement with the
   equally weighted ensemble;
2. regression on Friedman #1 (``make_friedman1`` with noise): a random forest
   and a ``HistGradientBoostingRegressor``, predictions averaged; test R^2 and
   fidelity to the equally weighted ensemble (R^2 against its predictions).

The teachers' scores come from the library's teacher adapter
(``sklearn_kd.teachers.as_teacher``), the object the distiller queries: for a
list, the average it distils. Boosting is nearly certain on the rows it was
fitted on, so in an equal average of probabilities it outweighs the forest's
softer votes there.

Run ``python examples/teacher_ensemble.py`` (about a minute on 2 cores), or
pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run.
"""

from __future__ import annotations

import argparse
import os
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
from sklearn_kd.teachers import as_teacher


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
    results = {
        "classification": classification(epochs, n_trees),
        "regression": regression(epochs, n_trees),
    }
    print()
    print(f"total time {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
