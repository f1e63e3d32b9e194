"""Tune alpha and T with GridSearchCV around a fitted teacher
==========================================================

A distiller is an ordinary scikit-learn estimator, so its ``alpha`` (the
weight of the true labels) and ``T`` (the temperature of the soft targets)
are searched like any hyper-parameter. A ``HistGradientBoostingClassifier``
is fitted once on scikit-learn's bundled digits; ``GridSearchCV`` then tunes
a ``DistilledClassifier`` that distils it into the default 2x64 MLP, scoring
each candidate on held-out accuracy and on fidelity to the teacher
(:func:`sklearn_kd.metrics.fidelity_score`). The search never refits the
teacher, in the main process or in its worker processes: a fitted teacher is
data to the distiller, which ``clone`` keeps as the same object.
"""

# %%
# Settings
# --------
# The full setting searches a 4 x 4 grid with 5-fold cross-validation (2-3
# minutes on 2 cores); ``SKLEARN_KD_QUICK=1`` a 2 x 2 grid, 3 folds, 10
# epochs and a smaller teacher. ``alpha=1`` is in the grid: it is the same
# MLP trained from scratch, for which ``T`` changes nothing.
import time

import matplotlib.pyplot as plt
import pandas as pd
from _settings import pick
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_kd import DistilledClassifier
from sklearn_kd.metrics import fidelity_score

GRID = pick(
    {"alpha": [0.1, 0.3, 0.6, 1.0], "T": [1.0, 2.0, 4.0, 8.0]},
    {"alpha": [0.2, 1.0], "T": [1.0, 4.0]},
)
CV, EPOCHS, TEACHER_ITER = pick((5, 60, 100), (3, 10, 30))
# Two worker processes in the full setting; the quick one stays in this
# process, where starting the workers would cost more than its fits.
N_JOBS = pick(2, 1)

# %%
# A teacher that must not be refitted
# -----------------------------------
# To show that no fit of the search refits the teacher, it is a tripwire: a
# gradient-boosting classifier whose ``fit`` raises once it is fitted.


class TripwireBoosting(HistGradientBoostingClassifier):
    """A gradient-boosting classifier that raises if it is fitted a second time."""

    def fit(self, X, y, sample_weight=None):
        if hasattr(self, "n_iter_"):
            raise RuntimeError("the fitted teacher was refitted")
        return super().fit(X, y, sample_weight=sample_weight)


X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
start = time.perf_counter()
teacher = TripwireBoosting(max_iter=TEACHER_ITER, random_state=0).fit(X_train, y_train)
print(
    f"digits: {len(X_train)} training and {len(X_test)} test images; teacher "
    f"fitted once in {time.perf_counter() - start:.1f} s"
)

# %%
# The search
# ----------
# Candidates are ranked on their accuracy on the validation folds. The
# teacher was fitted on all the training rows, so it has seen every fold's
# validation rows: the cross-validated scores are slightly optimistic, the
# test scores below are not. For the same reason fidelity to the teacher is
# measured on the test rows: on the rows it was fitted on, boosting repeats
# the labels, so ``scoring={"accuracy": "accuracy", "fidelity":
# fidelity_scorer}`` would find fidelity equal to accuracy there.
# With ``n_jobs=2`` the candidates are fitted in two worker processes, each
# with its copy of the tripwire teacher.

search = GridSearchCV(
    DistilledClassifier(teacher, max_epochs=EPOCHS, random_state=0),
    GRID,
    cv=CV,
    n_jobs=N_JOBS,
    error_score="raise",
)
start = time.perf_counter()
search.fit(X_train, y_train)
n_fits = CV * len(search.cv_results_["params"])
print(
    f"GridSearchCV: {n_fits} fits + 1 refit in {time.perf_counter() - start:.0f} s, "
    "none of which refitted the teacher (its fit would have raised)"
)
best = search.best_estimator_
assert best.teacher is teacher and best.teacher_ is teacher
print("best_estimator_.teacher_ is the teacher passed in: True")

# %%
# Every candidate on the test rows
# --------------------------------
# Each candidate refitted on all the training rows (``clone`` keeps the
# teacher: no candidate refits it) and scored on the test rows: accuracy, and
# fidelity, the share of test rows on which it predicts the teacher's class
# (:func:`sklearn_kd.metrics.fidelity_score`).

results = pd.DataFrame(search.cv_results_)
test_scores = []
for params in search.cv_results_["params"]:
    candidate = clone(search.estimator).set_params(**params).fit(X_train, y_train)
    test_scores.append(
        (candidate.score(X_test, y_test), fidelity_score(candidate, X_test))
    )
table = pd.DataFrame(
    {
        "alpha": results["param_alpha"].astype(float),
        "T": results["param_T"].astype(float),
        "cv accuracy": results["mean_test_score"],
        "std": results["std_test_score"],
        "rank": results["rank_test_score"],
        "test accuracy": [acc for acc, _ in test_scores],
        "test fidelity": [fid for _, fid in test_scores],
        "fit s": results["mean_fit_time"],
    }
).sort_values(["alpha", "T"])
print(table.to_string(index=False, float_format="%.4f"))
print(
    f"\nbest parameters: {search.best_params_} (cv accuracy {search.best_score_:.4f})"
)
print(f"teacher's test accuracy: {teacher.score(X_test, y_test):.4f}")

# %%
# Accuracy and fidelity against T
# -------------------------------
# Boosting is nearly certain on the rows it was fitted on, so its soft
# targets there are almost one-hot and at ``T=1`` distillation is close to
# training on the labels; a higher ``T`` softens them and lets the teacher's
# ranking of the other classes through. ``alpha=1`` (from scratch) is flat:
# ``T`` only acts on the teacher's term.

columns = ["cv accuracy", "test accuracy", "test fidelity"]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True)
for alpha, rows in table.groupby("alpha"):
    for ax, column in zip(axes, columns, strict=True):
        ax.plot(rows["T"], rows[column], marker="o", label=f"alpha={alpha:g}")
for ax, column in zip(axes, columns, strict=True):
    ax.set_xscale("log", base=2)
    ax.set_xticks(GRID["T"], [f"{t:g}" for t in GRID["T"]])
    ax.minorticks_off()
    ax.set_xlabel("temperature T")
    ax.set_title(column)
axes[1].axhline(
    teacher.score(X_test, y_test), color="black", linestyle=":", label="teacher"
)
axes[1].legend()
fig.tight_layout()
plt.show()
