"""Teach a student how a random forest responds to its inputs, not only what it predicts.

A distilled student normally matches the teacher's *outputs*. Gradient terms
add the teacher's *derivatives* by the input (the lecture's "Signal 4"):

- ``InputGradientMatching`` (Sobolev training) adds, per row, the squared
  difference between the teacher's and the student's input derivatives;
  ``target='output'`` compares the derivatives of the predictions,
  ``target='loss'`` those of the task loss at the true label
  (``||grad_x L_t - grad_x L_s||^2``);
- ``AdversarialGradientMatching`` (GREAT) lets a discriminator tell the two
  apart instead, and ``LayerGradientMatching`` compares gradients by a hidden
  layer (torch teachers only).

How the teacher's derivatives are obtained: exactly, by autograd, when the
teacher is a torch module or a skorch net; otherwise (forests, boosting,
Pipelines, any callable) by central differences,
``(f(x + h v) - f(x - h v)) / 2h``, computed once per fit. Inputs are measured
in standard deviations: ``step=h`` (default 0.1) moves each numeric column by
``h`` of its training standard deviation, so one step suits every column. A
tree ensemble is flat almost everywhere, so its exact gradient is useless; the
difference over a window of ``2h`` standard deviations is its average slope
there (raise ``step`` to smooth more). It costs ``2 d`` teacher evaluations per
training row for ``d`` numeric columns (``method='directions'`` with
``n_directions=k``: ``2 k``); ``teacher_rows_evaluated_`` reports them.

This script fits a 300-tree random forest on scikit-learn's bundled diabetes
data, then distils it into the default 2x64 MLP twice, with the HP loss alone
and with HP plus ``InputGradientMatching``, and prints for both the test R^2,
the fidelity to the forest (R^2 to its predictions) and the mean cosine
between the student's and the forest's input gradients on the test rows.
Finally it searches the term's weight (and target) with ``GridSearchCV`` via
``terms__grad__weight``; ``memory`` caches the forest's derivatives, so each
training fold pays for them once, not once per candidate.

Run ``python examples/gradient_matching.py`` (about a minute on 2 cores), or
pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run (seconds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_kd import DistilledRegressor
from sklearn_kd.losses.gradients import InputGradientMatching


def gradient_cosine(student, forest, X, std, step=0.1):
    """Mean cosine, over the rows of ``X``, between the student's and the
    forest's input gradients, both per training standard deviation of each
    column: the forest's by central differences over ``±step`` standard
    deviations (what the term trains on), the student's by autograd."""
    n, p = X.shape
    moves = np.eye(p) * (step * std)
    up = (X[None] + moves[:, None]).reshape(-1, p)
    down = (X[None] - moves[:, None]).reshape(-1, p)
    out = forest.predict(np.concatenate([up, down])).reshape(2, p, n)
    g_forest = ((out[0] - out[1]) / (2 * step)).T

    # The student reads the standardised matrix preprocessor_.transform(X);
    # moving x_j by one standard deviation moves its input by dz_dw[j].
    prep = student.preprocessor_
    dz_dw = prep.transform(X[:1] + np.diag(std)) - prep.transform(X[:1])
    z = torch.tensor(prep.transform(X), dtype=torch.float32, requires_grad=True)
    (g_z,) = torch.autograd.grad(student.student_.module_(z).sum(), z)
    g_student = g_z.double().numpy() @ np.asarray(dz_dw, dtype=np.float64).T

    norms = np.linalg.norm(g_forest, axis=1) * np.linalg.norm(g_student, axis=1)
    keep = norms > 0  # a row where the forest is flat has no direction
    return float(np.mean((g_forest * g_student).sum(axis=1)[keep] / norms[keep]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 50 trees, 20 epochs, a 2-candidate search "
        "(also SKLEARN_KD_QUICK=1)",
    )
    args = parser.parse_args(argv)
    # A 2x64 MLP gains nothing from more threads.
    torch.set_num_threads(1)
    n_trees, epochs = (50, 20) if args.quick else (300, 100)

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0
    )
    forest = RandomForestRegressor(n_estimators=n_trees, n_jobs=-1, random_state=0).fit(
        X_train, y_train
    )
    forest_test = forest.predict(X_test)
    std = X_train.std(axis=0)
    print(
        f"diabetes: {len(X_train)} training, {len(X_test)} test rows; forest test "
        f"R^2 {r2_score(y_test, forest_test):.4f}"
    )

    common = {"alpha": 0.5, "max_epochs": epochs, "random_state": 0}
    students = {
        "HP alone": DistilledRegressor(forest, **common),
        "HP + input gradients": DistilledRegressor(
            forest,
            terms=[("grad", InputGradientMatching(weight=10.0))],
            **common,
        ),
    }
    print(
        f"\n{'student':<22} {'test R^2':>8} {'fidelity':>9} {'grad cos':>9} "
        f"{'fit s':>6} {'teacher rows':>13}"
    )
    results = {}
    for name, student in students.items():
        start = time.perf_counter()
        student.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        pred = student.predict(X_test)
        results[name] = {
            "r2": r2_score(y_test, pred),
            "fidelity": r2_score(forest_test, pred),
            "grad_cos": gradient_cosine(student, forest, X_test, std),
        }
        rows = sum(student.teacher_rows_evaluated_.values())
        print(
            f"{name:<22} {results[name]['r2']:>8.4f} {results[name]['fidelity']:>9.4f}"
            f" {results[name]['grad_cos']:>9.3f} {fit_s:>6.1f} {rows:>13,d}"
        )

    # Search the term's weight (and what it differentiates). Each fold's forest
    # derivatives are computed once and read from memory by the other candidates.
    grid = {"terms__grad__weight": [1.0, 10.0]}
    if not args.quick:
        grid = {
            "terms__grad__weight": [1.0, 10.0, 100.0],
            "terms__grad__target": ["output", "loss"],
        }
    with tempfile.TemporaryDirectory() as cache:
        search = GridSearchCV(
            clone(students["HP + input gradients"]).set_params(memory=cache),
            grid,
            cv=2 if args.quick else 3,
        )
        start = time.perf_counter()
        search.fit(X_train, y_train)
        search_s = time.perf_counter() - start
    test_r2 = search.score(X_test, y_test)
    print(
        f"\nGridSearchCV over {grid} ({search_s:.0f} s): best "
        f"{search.best_params_}, CV R^2 {search.best_score_:.4f}, test R^2 "
        f"{test_r2:.4f}"
    )
    results["search"] = {"best_params": search.best_params_, "test_r2": test_r2}
    return results


if __name__ == "__main__":
    main()
