"""Teach a student how a forest responds to its inputs, not only what it predicts
==============================================================================

A distilled student normally matches the teacher's *outputs*; between the
training rows it is free to respond to its inputs as it likes. Gradient terms
also match the teacher's *derivatives* by the input, so that the student
moves like the teacher when a feature moves: what matters when the model is
used to ask "what if this value were higher?".

- ``InputGradientMatching`` (Sobolev training: Czarnecki et al., "Sobolev
  training for neural networks", 2017) adds, per row, the squared difference
  between the teacher's and the student's input derivatives;
  ``target="output"`` compares the derivatives of the predictions,
  ``target="loss"`` those of the task loss at the true label;
- ``AdversarialGradientMatching`` (GREAT: Sinha et al., "Gradient
  adversarial training of neural networks", 2018) lets a discriminator tell
  the two apart instead, and ``LayerGradientMatching`` compares gradients by a hidden layer
  (torch teachers only).

The teacher's derivatives are exact, by autograd, when it is a torch module
or a skorch net; for anything else (forests, boosting, Pipelines, any
callable) they are central differences, ``(f(x + h v) - f(x - h v)) / 2h``,
computed once per fit, with inputs measured in standard deviations:
``step=h`` (default 0.1) moves each numeric column by ``h`` of its training
standard deviation. A tree ensemble is flat almost everywhere, so its exact
gradient is useless; the difference over a window of ``2h`` standard
deviations is its average slope there (raise ``step`` to smooth more). It
costs ``2 d`` teacher evaluations per training row for ``d`` numeric columns
(``method="directions"`` with ``n_directions=k``: ``2 k``), which
``teacher_rows_evaluated_`` reports.
"""

# %%
# Settings
# --------
# The full setting uses 300 trees, 100 epochs and a 6-candidate search (about
# a minute on 2 cores); ``SKLEARN_KD_QUICK=1`` 50 trees, 20 epochs and 2
# candidates.
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _settings import pick
from sklearn.base import clone
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_kd import DistilledRegressor
from sklearn_kd.losses.gradients import InputGradientMatching

# A 2x64 MLP gains nothing from more threads.
torch.set_num_threads(1)
# torch loads its optimizer machinery on first use (seconds on a busy
# machine): load it now, not in the first fit timed below.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])
N_TREES, EPOCHS = pick((300, 100), (50, 20))
GRID = pick(
    {
        "terms__grad__weight": [1.0, 10.0, 100.0],
        "terms__grad__target": ["output", "loss"],
    },
    {"terms__grad__weight": [1.0, 10.0]},
)

# %%
# The teacher: a random forest on diabetes
# ----------------------------------------
# scikit-learn's bundled diabetes data: disease progression after one year
# from 10 baseline measurements of 442 patients.

diabetes = load_diabetes()
X, y = diabetes.data, diabetes.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
forest = RandomForestRegressor(n_estimators=N_TREES, n_jobs=-1, random_state=0).fit(
    X_train, y_train
)
forest_test = forest.predict(X_test)
std = X_train.std(axis=0)
print(
    f"diabetes: {len(X_train)} training, {len(X_test)} test rows; forest test "
    f"R^2 {r2_score(y_test, forest_test):.4f}"
)

# %%
# How alike two models' slopes are
# --------------------------------
# The mean cosine, over the test rows, between the student's and the
# forest's input gradients, both per training standard deviation of each
# column: the forest's by central differences over ``±0.1`` standard
# deviations (what the term trains on), the student's by autograd.


def gradient_cosine(student, X, step=0.1):
    n, p = X.shape
    moves = np.eye(p) * (step * std)
    up = (X[None] + moves[:, None]).reshape(-1, p)
    down = (X[None] - moves[:, None]).reshape(-1, p)
    out = forest.predict(np.concatenate([up, down])).reshape(2, p, n)
    g_forest = ((out[0] - out[1]) / (2 * step)).T

    # The student reads the matrix preprocessor_.transform(X); moving x_j by
    # one standard deviation moves its input by dz_dw[j].
    prep = student.preprocessor_
    dz_dw = prep.transform(X[:1] + np.diag(std)) - prep.transform(X[:1])
    z = torch.tensor(prep.transform(X), dtype=torch.float32, requires_grad=True)
    (g_z,) = torch.autograd.grad(student.student_.module_(z).sum(), z)
    g_student = g_z.double().numpy() @ np.asarray(dz_dw, dtype=np.float64).T

    norms = np.linalg.norm(g_forest, axis=1) * np.linalg.norm(g_student, axis=1)
    keep = norms > 0  # a row where the forest is flat has no direction
    return float(np.mean((g_forest * g_student).sum(axis=1)[keep] / norms[keep]))


# %%
# Outputs alone, or outputs and slopes
# ------------------------------------
# The forest distilled into the default 2x64 MLP twice: with the HP loss
# alone, and with ``InputGradientMatching`` (weight 10) added.

common = {"alpha": 0.5, "max_epochs": EPOCHS, "random_state": 0}
students = {
    "HP alone": DistilledRegressor(forest, **common),
    "HP + input gradients": DistilledRegressor(
        forest, terms=[("grad", InputGradientMatching(weight=10.0))], **common
    ),
}
rows = {}
for name, student in students.items():
    start = time.perf_counter()
    student.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    pred = student.predict(X_test)
    rows[name] = {
        "test R2": r2_score(y_test, pred),
        "fidelity R2": r2_score(forest_test, pred),
        "gradient cosine": gradient_cosine(student, X_test),
        "fit s": fit_s,
        "teacher rows": sum(student.teacher_rows_evaluated_.values()),
    }
table = pd.DataFrame.from_dict(rows, orient="index")
print(table.to_string(float_format="%.4f"))

# %%
# The response to one feature
# ---------------------------
# The average prediction over the test rows as each of the forest's two most
# important features sweeps its range, the other columns kept (a partial
# dependence curve): the forest's steps, and how each student follows them.

top = np.argsort(forest.feature_importances_)[::-1][:2]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
models = {"forest": forest, **students}
for ax, j in zip(axes, top, strict=True):
    grid = np.linspace(*np.quantile(X_train[:, j], [0.05, 0.95]), 40)
    for name, model in models.items():
        curve = []
        for value in grid:
            X_moved = X_test.copy()
            X_moved[:, j] = value
            curve.append(model.predict(X_moved).mean())
        ax.plot(grid, curve, label=name, linewidth=2 if name == "forest" else 1.5)
    ax.set_xlabel(f"{diabetes.feature_names[j]} (as scaled in the data set)")
    ax.set_ylabel("mean prediction on the test rows")
axes[0].legend()
fig.tight_layout()
plt.show()

# %%
# Searching the term's weight
# ---------------------------
# The term's parameters are searchable as ``terms__<name>__<parameter>``.
# ``memory`` caches the forest's derivatives, so each training fold pays for
# them once, not once per candidate.

with tempfile.TemporaryDirectory() as cache:
    search = GridSearchCV(
        clone(students["HP + input gradients"]).set_params(memory=cache),
        GRID,
        cv=pick(3, 2),
    )
    start = time.perf_counter()
    search.fit(X_train, y_train)
    search_s = time.perf_counter() - start
print(
    f"GridSearchCV over {GRID} ({search_s:.0f} s): best {search.best_params_}, "
    f"cv R^2 {search.best_score_:.4f}, test R^2 {search.score(X_test, y_test):.4f}"
)
