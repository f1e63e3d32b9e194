"""Search alpha and T with GridSearchCV around a fitted gradient-boosting teacher.

A ``HistGradientBoostingClassifier`` is fitted once on scikit-learn's digits
(8x8 images of 10 digits, bundled, no download). ``GridSearchCV`` then tunes
the ``alpha`` (weight of the true labels) and ``T`` (temperature) of a
``DistilledClassifier`` that distils it into the default 2x64 MLP, with 5-fold
cross-validation on two processes (``n_jobs=2``). ``alpha=1`` is in the grid:
it is the same MLP trained from scratch, for which ``T`` changes nothing.

A distiller treats a fitted teacher as data: ``clone`` keeps the same object
and no fit in the search refits it. The script shows this with a tripwire, a
teacher whose ``fit`` raises once it is fitted, in the main process and in the
worker processes alike; the refitted best model holds the very teacher object
that was passed in.

Printed: the cv results table, the best parameters, and the test accuracy of
the teacher, the best distilled student and the scratch student. The teacher
was fitted on all the training rows, so it has seen every fold's validation
rows: the cv scores of distilled students are slightly optimistic, the test
accuracies are not. Boosting is nearly certain on the rows it was fitted on,
so its soft targets there are almost one-hot and at ``T=1`` distillation is
close to training on the labels; a higher ``T`` softens them and lets the
teacher's ranking of the other classes through.

Run ``python examples/grid_search.py`` (2-3 minutes on 2 cores), or pass
``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run on a small grid.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_kd import DistilledClassifier


class TripwireBoosting(HistGradientBoostingClassifier):
    """A gradient-boosting classifier that raises if it is fitted a second time."""

    def fit(self, X, y, sample_weight=None):
        if hasattr(self, "n_iter_"):
            raise RuntimeError("the fitted teacher was refitted")
        return super().fit(X, y, sample_weight=sample_weight)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 2 x 2 grid, 3 folds, 10 epochs (also SKLEARN_KD_QUICK=1)",
    )
    args = parser.parse_args(argv)

    if args.quick:
        grid, cv, epochs = {"alpha": [0.2, 1.0], "T": [1.0, 4.0]}, 3, 10
    else:
        grid = {"alpha": [0.1, 0.3, 0.6, 1.0], "T": [1.0, 2.0, 4.0, 8.0]}
        cv, epochs = 5, 60

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    start = time.perf_counter()
    teacher = TripwireBoosting(max_iter=100, random_state=0).fit(X_train, y_train)
    teacher_seconds = time.perf_counter() - start
    print(
        f"digits: {len(X_train)} training and {len(X_test)} test images; teacher "
        f"{type(teacher).__name__} fitted once in {teacher_seconds:.1f} s"
    )

    distiller = DistilledClassifier(teacher, max_epochs=epochs, random_state=0)
    search = GridSearchCV(distiller, grid, cv=cv, n_jobs=2, error_score="raise")
    start = time.perf_counter()
    search.fit(X_train, y_train)
    search_seconds = time.perf_counter() - start
    n_fits = cv * len(search.cv_results_["params"])
    print(
        f"GridSearchCV: {n_fits} fits + 1 refit in {search_seconds:.0f} s, "
        "none of them refitted the teacher (its fit would have raised)"
    )

    results = pd.DataFrame(search.cv_results_)
    table = results[
        [
            "param_alpha",
            "param_T",
            "mean_test_score",
            "std_test_score",
            "rank_test_score",
        ]
    ].rename(
        columns={
            "param_alpha": "alpha",
            "param_T": "T",
            "mean_test_score": "cv accuracy",
            "std_test_score": "std",
            "rank_test_score": "rank",
        }
    )
    table["fit s"] = results["mean_fit_time"]
    print()
    print(table.sort_values(["alpha", "T"]).to_string(index=False, float_format="%.4f"))
    print()
    print(
        f"best parameters: {search.best_params_} (cv accuracy {search.best_score_:.4f})"
    )

    best = search.best_estimator_
    assert best.teacher is teacher and best.teacher_ is teacher
    print("best_estimator_.teacher_ is the teacher passed in: True")

    scratch = DistilledClassifier(
        teacher, alpha=1.0, beta=0.0, max_epochs=epochs, random_state=0
    ).fit(X_train, y_train)
    print()
    for name, model in (
        ("teacher (gradient boosting)", teacher),
        ("best distilled 2x64 MLP", best),
        ("same MLP from scratch", scratch),
    ):
        print(f"{name:<28} test accuracy {model.score(X_test, y_test):.4f}")
    agreement = np.mean(best.predict(X_test) == teacher.predict(X_test))
    print(
        f"best student agrees with the teacher on {100 * agreement:.1f}% of test rows"
    )
    return search


if __name__ == "__main__":
    main()
