"""Distil an ensemble of teachers, and let a student teach the next
================================================================

Several fitted models often beat each one alone, but serving them all costs
the sum of their latencies. A list of teachers is a teacher:
``teacher=[forest, boosting]`` averages the members' class probabilities (or,
for a regressor, their predictions), ``teacher=[(forest, 0.7), (boosting,
0.3)]`` weighs them, and ``EnsembleTeacher(members, weights, average=...)``
chooses where class scores are averaged. One small student then carries the
ensemble. The example distils ensembles of a random forest and a
gradient-boosting model on a classification and a regression task, compares
the two ways of averaging, and ends with born-again networks: a fitted
distiller is itself a teacher, so a student can teach the next generation.
"""

# %%
# Settings
# --------
# The full setting uses 200 trees or boosting iterations and 100 epochs
# (about a minute on 2 cores); ``SKLEARN_KD_QUICK=1`` 30 and 10.
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from _settings import pick
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

EPOCHS, N_TREES = pick((100, 200), (10, 30))
start = time.perf_counter()


def teacher_output(teacher, X, signal):
    """What the distiller gets from a teacher (or a teacher list) on ``X``.

    ``as_teacher`` is the adapter the distiller queries: for a list, the
    average it distils.
    """
    return as_teacher(teacher).query(X, [signal])[signal]


# %%
# 1. Classification: digits
# -------------------------
# A random forest and a ``HistGradientBoostingClassifier`` on scikit-learn's
# bundled 8x8 digits, alone and averaged, each distilled into the default
# 2x64 MLP (``alpha=0.3``, ``T=4``), next to the same MLP from scratch
# (``alpha=1, beta=0``). Agreement is measured with the equally weighted
# ensemble.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
forest = RandomForestClassifier(n_estimators=N_TREES, random_state=0).fit(
    X_train, y_train
)
boosting = HistGradientBoostingClassifier(max_iter=N_TREES, random_state=0).fit(
    X_train, y_train
)
teachers = {
    "forest": forest,
    "boosting": boosting,
    "[forest, boosting]": [forest, boosting],
    "[(forest, 0.7), (boosting, 0.3)]": [(forest, 0.7), (boosting, 0.3)],
}


def labels(teacher):
    return forest.classes_[teacher_output(teacher, X_test, "logits").argmax(1)]


ensemble = labels([forest, boosting])
rows = {}
for name, teacher in teachers.items():
    pred = labels(teacher)
    rows[f"teacher: {name}"] = (np.mean(pred == y_test), np.mean(pred == ensemble))
common = {"alpha": 0.3, "T": 4.0, "max_epochs": EPOCHS, "random_state": 0}
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
table = pd.DataFrame.from_dict(rows, orient="index", columns=["test acc", "agreement"])
print(f"1. digits: {len(X_train)} train, {len(X_test)} test rows; alpha=0.3, T=4")
print(table.to_string(float_format="%.4f"))

# %%
# Boosting is nearly certain on the rows it was fitted on, so in an equal
# average of probabilities it outweighs the forest's softer votes there.
#
# 2. Regression: Friedman #1
# --------------------------
# The same with a random forest and a ``HistGradientBoostingRegressor`` on
# ``make_friedman1`` with noise: the predictions are averaged. Fidelity is
# the R^2 against the equally weighted ensemble's predictions.

Xr, yr = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=0)
Xr_train, Xr_test, yr_train, yr_test = train_test_split(
    Xr, yr, test_size=0.25, random_state=0
)
forest_r = RandomForestRegressor(n_estimators=N_TREES, random_state=0).fit(
    Xr_train, yr_train
)
boosting_r = HistGradientBoostingRegressor(max_iter=N_TREES, random_state=0).fit(
    Xr_train, yr_train
)
teachers_r = {
    "forest": forest_r,
    "boosting": boosting_r,
    "[forest, boosting]": [forest_r, boosting_r],
    "[(forest, 0.3), (boosting, 0.7)]": [(forest_r, 0.3), (boosting_r, 0.7)],
}


def predictions(teacher):
    return teacher_output(teacher, Xr_test, "prediction").ravel()


ensemble_r = predictions([forest_r, boosting_r])
rows = {}
for name, teacher in teachers_r.items():
    pred = predictions(teacher)
    rows[f"teacher: {name}"] = (r2_score(yr_test, pred), r2_score(ensemble_r, pred))
common_r = {"alpha": 0.3, "max_epochs": EPOCHS, "random_state": 0}
students_r = {
    f"distilled from {name}": DistilledRegressor(teacher, **common_r)
    for name, teacher in teachers_r.items()
}
students_r["same MLP from scratch"] = DistilledRegressor(
    forest_r, **{**common_r, "alpha": 1.0, "beta": 0.0}
)
for name, student in students_r.items():
    pred = student.fit(Xr_train, yr_train).predict(Xr_test)
    rows[name] = (r2_score(yr_test, pred), r2_score(ensemble_r, pred))
table = pd.DataFrame.from_dict(rows, orient="index", columns=["test R2", "fidelity"])
print(f"\n2. Friedman #1: {len(Xr_train)} train, {len(Xr_test)} test rows; alpha=0.3")
print(table.to_string(float_format="%.4f"))

# %%
# 3. Averaging probabilities or logits
# ------------------------------------
# ``average="proba"`` (the default) is the arithmetic mean of the members'
# probabilities, as bagging does and Hinton, Vinyals and Dean (2015) do;
# ``average="logits"`` the mean of centred logits, the geometric mean of the
# probabilities: a class any member rules out is ruled out. A forest gives
# many classes probability 0, which the logit average turns into a veto and
# a more confident ensemble. For each weighting: the ensemble's test accuracy
# and mean confidence (largest probability), and its student's test accuracy
# and agreement with it.

rows, confidence = {}, {}
for weights in ([0.5, 0.5], [0.7, 0.3]):
    for average in ("proba", "logits"):
        teacher = EnsembleTeacher([forest, boosting], weights, average=average)
        logits = teacher_output(teacher, X_test, "logits")
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        ensemble_labels = forest.classes_[logits.argmax(axis=1)]
        student = DistilledClassifier(teacher, **common)
        pred = student.fit(X_train, y_train).predict(X_test)
        name = f"weights {weights}, average={average!r}"
        confidence[name] = proba.max(axis=1)
        rows[name] = (
            np.mean(ensemble_labels == y_test),
            proba.max(axis=1).mean(),
            np.mean(pred == y_test),
            np.mean(pred == ensemble_labels),
        )
table = pd.DataFrame.from_dict(
    rows,
    orient="index",
    columns=["teacher acc", "confidence", "student acc", "agreement"],
)
print("\n3. EnsembleTeacher([forest, boosting], weights, average=...) on digits")
print(table.to_string(float_format="%.4f"))

# %%
# How confident each equally weighted ensemble is on the test rows: the
# distribution of its largest class probability.

fig, ax = plt.subplots(figsize=(6, 3.8))
bins = np.linspace(0, 1, 21)
for average in ("proba", "logits"):
    ax.hist(
        confidence[f"weights [0.5, 0.5], average={average!r}"],
        bins=bins,
        alpha=0.6,
        label=f"average={average!r}",
    )
ax.set_xlabel("largest class probability of the ensemble")
ax.set_ylabel("test rows")
ax.set_title("[forest, boosting], equal weights, on digits")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# 4. Born-again networks
# ----------------------
# Furlanello et al. ("Born-again neural networks", 2018) distil a network
# into one of the same architecture, generation after generation. A fitted
# distiller is a teacher, so the student of part 1 distilled from boosting
# teaches a second student of the same 2x64 architecture, through its outputs
# alone or with FitNets on its last hidden layer
# (``FeatureMatching(teacher_layer="hidden_2")``: a distilled student's
# layers are features like a torch teacher's); a third generation follows.
# Agreement is measured with the first generation.

first = students["distilled from boosting"]
reference = first.predict(X_test)
rows = {}
for name, model in (
    ("boosting (the first student's teacher)", boosting),
    ("1st generation: distilled from boosting", first),
    ("same MLP from scratch", students["same MLP from scratch"]),
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
rows["3rd generation: outputs"] = (np.mean(pred == y_test), np.mean(pred == reference))
table = pd.DataFrame.from_dict(rows, orient="index", columns=["test acc", "agreement"])
print("\n4. born-again on digits: agreement with the 1st generation")
print(table.to_string(float_format="%.4f"))
print(f"\ntotal time {time.perf_counter() - start:.0f} s")
