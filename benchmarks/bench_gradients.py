"""Gradient terms measured: does matching the teacher's input gradients help?

The main distillation term alone (HP for regression, soft targets for
classification) against the same term plus each gradient term of
``sklearn_kd.losses.gradients``, side by side in one run, with the same student
(the default 2x64 MLP), seeds, epochs and batch size:

- ``InputGradientMatching(target='output')``: Sobolev training, the student's
  Jacobian against the teacher's;
- ``InputGradientMatching(target='loss')``: the loss-gradient matching
  ``||grad_x L_t - grad_x L_s||^2`` at the true labels;
- ``InputGradientMatching(method='directions', n_directions=4)``: four random
  directions per row instead of every axis (finite-difference teachers only:
  with an autograd teacher the full Jacobian costs one backward pass);
- ``AdversarialGradientMatching``: GREAT, a discriminator on the gradients;
- ``LayerGradientMatching``: gradients by a hidden layer (torch teacher only);

each at several weights, with the from-scratch student (``alpha=1, beta=0``)
for reference and a control: ``InputGradientMatching`` with the teacher's
derivatives replaced by zeros (:class:`ZeroTeacherGradient`, a plain penalty on
the student's own gradients), which tells a gain from the teacher's
derivatives apart from a gain from smoothing. Three data sets:

- ``synthetic``: the 10-feature regression target of
  ``examples/synthetic_regression.py`` (numpy, 2,000 rows, fixed splits: 1,280
  train, 320 validation, 400 test) with a torch MLP
  teacher 10-256-256-128-64-1 (LeakyReLU) trained here: exact derivatives;
- ``diabetes`` (scikit-learn, regression, 442 rows) with a 300-tree random
  forest: central differences;
- ``breast_cancer`` (scikit-learn, binary classification, 569 rows) with
  HistGradientBoosting: central differences of its log-probabilities.

Per setting: test score (R^2 or accuracy), fidelity to the teacher (R^2 to its
predictions or label agreement), the cosine between the student's and the
teacher's input gradients on test rows (see :func:`gradient_cosine`), the fit
time it adds to the main-term-only fit, and the teacher evaluations the
gradients cost. Mean and sample standard deviation over the seeds, and the
paired difference to the main term alone within each seed.

Run ``python benchmarks/bench_gradients.py`` (about 12 minutes on 2 cores) or
``--quick`` (under a minute, numbers not for reading). The full setting writes
``benchmarks/results/gradients.json`` and ``gradients.md``; ``--out DIR``
writes them elsewhere (any setting), ``--report JSON`` rewrites the table of a
saved run without fitting anything.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning (HistGradientBoosting and torch
# each bring a runtime; see benchmarks/README.md). Set before they load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import json
import platform
import sys
import time
from collections import OrderedDict, defaultdict
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

import sklearn_kd
from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses.gradients import (
    AdversarialGradientMatching,
    InputGradientMatching,
    LayerGradientMatching,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NOTES_MARKER = "<!-- notes: kept when the tables are rewritten -->"

#: Half-width of every finite difference, in training standard deviations: the
#: terms' default, and the one the gradient cosine uses for tree teachers.
STEP = 0.1
#: Clip of probabilities before their log, as the library's teacher adapter.
PROBA_EPS = 1e-6

SETTINGS = {
    "full": {
        "seeds": 3,
        "weights": (0.1, 1.0, 10.0, 100.0),
        # The library's default epochs and batch size (100, 256), for every
        # student of every data set.
        "max_epochs": 100,
        "teacher_max_epochs": 400,
        "teacher_patience": 40,
        "n_trees": 300,
    },
    "quick": {
        "seeds": 1,
        "weights": (1.0,),
        "max_epochs": 3,
        "teacher_max_epochs": 10,
        "teacher_patience": 5,
        "n_trees": 30,
    },
}
DATASETS = ("synthetic", "diabetes", "breast_cancer")


# ----------------------------------------------------------------------------
# Data and teachers
# ----------------------------------------------------------------------------


def make_synthetic(n_samples=2000, seed=42):
    """The synthetic target: 6 relevant features, 4 irrelevant ones."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 10))
    x = X.T
    y = (
        np.sin(x[0] * x[1])
        + 0.5 * np.cos(np.pi * x[2])
        + np.tanh(x[3])
        + 0.2 * x[4] ** 2
        - 1.5 * np.exp(-(x[0] ** 2))
        + 0.1 * (x[5] > 0)
        + rng.normal(0, 0.1, size=n_samples)
    )
    return X, y


def teacher_mlp(in_features=10):
    """10-256-256-128-64-1, LeakyReLU(0.01); layers named for LayerGradientMatching."""
    layers, width = OrderedDict(), in_features
    for i, size in enumerate((256, 256, 128, 64), start=1):
        layers[f"fc{i}"] = nn.Linear(width, size)
        layers[f"act{i}"] = nn.LeakyReLU(0.01)
        width = size
    layers["out"] = nn.Linear(width, 1)
    return nn.Sequential(layers)


def train_mlp(X_train, y_train, X_val, y_val, *, seed, max_epochs, patience):
    """Adam (lr 1e-3, weight decay 1e-5, batch 128) on the MSE, early stopping
    on the validation MSE; the best weights (a deep copy) are restored."""
    torch.manual_seed(seed)
    model = teacher_mlp(X_train.shape[1])
    Xt, Xv = (torch.tensor(a, dtype=torch.float32) for a in (X_train, X_val))
    yt, yv = (torch.tensor(a, dtype=torch.float32)[:, None] for a in (y_train, y_val))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch = float("inf"), None, 0
    for epoch in range(max_epochs):
        model.train()
        for rows in torch.randperm(len(Xt), generator=generator).split(128):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(Xt[rows]), yt[rows]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            loss = nn.functional.mse_loss(model(Xv), yv).item()
        if loss < best:
            best, best_state, best_epoch = (
                loss,
                copy.deepcopy(model.state_dict()),
                epoch,
            )
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return model.eval(), {"epochs": epoch + 1, "best_epoch": best_epoch + 1}


def load(name, seed, setting):
    """Split data and a fitted teacher for one data set and seed.

    The synthetic set keeps its fixed splits (random_state 42; the
    students train on train + validation rows, the teacher validates on the
    validation rows) and varies the teacher's initialisation with the seed;
    the bundled sets are split 80/20 by the seed (stratified for
    classification) and the teacher gets the seed.
    """
    start = time.perf_counter()
    info = {}
    if name == "synthetic":
        X, y = make_synthetic()
        X_rest, X_test, y_rest, y_test = train_test_split(
            X, y, test_size=400, random_state=42
        )
        X_tr, X_val, y_tr, y_val = train_test_split(
            X_rest, y_rest, test_size=0.2, random_state=42
        )
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_val, X_test = (scaler.transform(a) for a in (X_tr, X_val, X_test))
        teacher, info = train_mlp(
            X_tr,
            y_tr,
            X_val,
            y_val,
            seed=seed,
            max_epochs=setting["teacher_max_epochs"],
            patience=setting["teacher_patience"],
        )
        X_train, y_train = np.vstack([X_tr, X_val]), np.concatenate([y_tr, y_val])
        task, kind = "regression", "torch MLP 10-256-256-128-64-1"
    elif name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, random_state=seed
        )
        teacher = RandomForestRegressor(
            n_estimators=setting["n_trees"], n_jobs=-1, random_state=seed
        ).fit(X_train, y_train)
        task, kind = "regression", f"RandomForest ({setting['n_trees']} trees)"
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.2, random_state=seed, stratify=y
        )
        teacher = HistGradientBoostingClassifier(random_state=seed).fit(
            X_train, y_train
        )
        task, kind = "classification", "HistGradientBoosting"
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}")
    fit_s = time.perf_counter() - start
    split = (X_train, X_test, y_train, y_test)
    return task, kind, teacher, split, {"teacher_fit_s": fit_s, **info}


# ----------------------------------------------------------------------------
# Gradient agreement
# ----------------------------------------------------------------------------


def teacher_function(teacher, task):
    """Rows to the teacher's outputs: predictions, or centred log-probabilities
    (the logits a distiller takes from a tree ensemble, up to a shift)."""
    if isinstance(teacher, nn.Module):

        def outputs(X):
            with torch.no_grad():
                return teacher(torch.tensor(X, dtype=torch.float32)).double().numpy()

    elif task == "regression":

        def outputs(X):
            return np.asarray(teacher.predict(X), dtype=np.float64).reshape(len(X), -1)

    else:

        def outputs(X):
            return np.log(np.clip(teacher.predict_proba(X), PROBA_EPS, 1.0))

    if task == "regression":
        return outputs
    return lambda X: (lambda z: z - z.mean(axis=1, keepdims=True))(outputs(X))


def teacher_gradients(teacher, task, X, std, column):
    """The teacher's derivative of output ``column[i]`` at each row, per training
    standard deviation of each input, (n, p).

    Exact (autograd) for a torch teacher; central differences with half-width
    ``STEP`` standard deviations otherwise, as the gradient terms compute them.
    """
    n, p = X.shape
    rows = np.arange(n)
    if isinstance(teacher, nn.Module):
        x = torch.tensor(X, dtype=torch.float32, requires_grad=True)
        out = teacher(x)[torch.as_tensor(rows), torch.as_tensor(column)]
        (grad,) = torch.autograd.grad(out.sum(), x)
        return grad.double().numpy() * std
    outputs = teacher_function(teacher, task)
    moves = np.eye(p) * (STEP * std)  # (p, p): one column moved per block
    up = (X[None, :, :] + moves[:, None, :]).reshape(p * n, p)
    down = (X[None, :, :] - moves[:, None, :]).reshape(p * n, p)
    out = outputs(np.concatenate([up, down]))
    out = out.reshape(2, p, n, -1)[:, :, rows, column]  # (2, p, n)
    return ((out[0] - out[1]) / (2 * STEP)).T


def student_gradients(model, X, std, column, task):
    """The student's autograd derivative of the same output, (n, p).

    The network reads ``z = preprocessor_(x)``; ``dz/dw_j`` (``w_j`` one
    training standard deviation of column ``j``) is read off the fitted
    preprocessor by moving one row one standard deviation along each column
    (exact for the default per-column standardiser, which is affine).
    """
    prep = model.preprocessor_
    base = X[:1]
    probe = base + np.diag(std)  # (p, p)
    dz_dw = np.asarray(prep.transform(probe), np.float64) - np.asarray(
        prep.transform(base), np.float64
    )  # (p, n_student)
    module = model.student_.module_
    module.eval()
    z = torch.tensor(np.asarray(prep.transform(X), np.float32), requires_grad=True)
    out = module(z)
    if task == "classification":
        out = out - out.mean(dim=1, keepdim=True)
    out = out[torch.arange(len(X)), torch.as_tensor(column)]
    (grad,) = torch.autograd.grad(out.sum(), z)
    return grad.double().numpy() @ dz_dw.T


def teacher_columns(teacher, task, X):
    """The output compared: the prediction, or the teacher's predicted class."""
    if task == "regression":
        return np.zeros(len(X), dtype=int)
    return np.argmax(teacher_function(teacher, task)(X), axis=1)


def gradient_cosine(model, teacher, task, X, std, g_teacher=None):
    """Mean per-row cosine between the student's and the teacher's input gradients.

    Both derivative vectors are taken in standardised input units (one training
    standard deviation per column), of the prediction (regression) or of the
    teacher's predicted class's logit minus the mean logit (classification;
    softmax ignores a shift common to all logits) on every row of ``X``. The
    teacher's are exact for a torch teacher and central differences over
    ``±STEP`` standard deviations otherwise, the same windows the gradient
    terms are trained on; the student's are autograd. Rows where either vector
    is zero (a tree ensemble flat over the whole window) have no direction and
    are left out; their count is returned.

    Returns
    -------
    mean_cosine : float
    n_rows : int
        Rows averaged.
    """
    column = teacher_columns(teacher, task, X)
    if g_teacher is None:
        g_teacher = teacher_gradients(teacher, task, X, std, column)
    g_student = student_gradients(model, X, std, column, task)
    norms = np.linalg.norm(g_teacher, axis=1) * np.linalg.norm(g_student, axis=1)
    keep = norms > 1e-12
    cos = (g_teacher * g_student).sum(axis=1)[keep] / norms[keep]
    return float(cos.mean()) if keep.any() else float("nan"), int(keep.sum())


# ----------------------------------------------------------------------------
# The compared students
# ----------------------------------------------------------------------------


class ZeroTeacherGradient(InputGradientMatching):
    """Control: ``InputGradientMatching`` with the teacher's derivatives set to 0.

    What is left is a plain penalty on the student's own input gradients:
    ``||J_s||^2`` (``target='output'``, a Jacobian or smoothness penalty) or
    ``||grad_x L_s||^2`` (``target='loss'``, Drucker and LeCun's double
    backpropagation). A gain that the control matches comes from smoothing
    the student, not from what the teacher's derivatives say. (The teacher's
    derivatives are still computed, then discarded: same cost as the term.)
    """

    def teacher_signals(self, probe):
        out = super().teacher_signals(probe)
        key = self._keys()[0]
        out[key] = np.zeros_like(out[key])
        return out


def variants(task, teacher_is_torch, weights, controls=True):
    """(model label, weight or None, distiller keyword arguments)."""
    out = [("scratch", None, {"alpha": 1.0, "beta": 0.0}), ("main", None, {})]
    terms = [("grad output", lambda w: InputGradientMatching(weight=w))]
    terms.append(
        ("grad loss", lambda w: InputGradientMatching(weight=w, target="loss"))
    )
    if not teacher_is_torch:
        terms.append(
            (
                "grad directions k=4",
                lambda w: InputGradientMatching(
                    weight=w, method="directions", n_directions=4
                ),
            )
        )
    terms.append(("GREAT", lambda w: AdversarialGradientMatching(weight=w)))
    if teacher_is_torch:
        # The teacher's last hidden layer (64 wide) and the student's last
        # (hidden_2, 64 wide): the same depth counted from the output.
        terms.append(
            (
                "layer grad",
                lambda w: LayerGradientMatching(
                    weight=w, teacher_layer="act4", student_layer="hidden_2"
                ),
            )
        )
    if controls:
        terms += [
            ("control: zero teacher, output", lambda w: ZeroTeacherGradient(weight=w)),
            (
                "control: zero teacher, loss",
                lambda w: ZeroTeacherGradient(weight=w, target="loss"),
            ),
        ]
    for label, make in terms:
        for w in weights:
            out.append((label, w, {"terms": [("grad", make(w))]}))
    return out


def score(task, y_true, y_pred):
    if task == "regression":
        return r2_score(y_true, y_pred)
    return accuracy_score(y_true, y_pred)


def run_dataset(name, seed, setting):
    task, kind, teacher, split, info = load(name, seed, setting)
    X_train, X_test, y_train, y_test = split
    is_torch = isinstance(teacher, nn.Module)
    if is_torch:
        with torch.no_grad():
            teacher_test = teacher(torch.tensor(X_test, dtype=torch.float32))
        teacher_test = teacher_test.numpy().ravel()
    else:
        teacher_test = teacher.predict(X_test)
    std = X_train.std(axis=0)
    column = teacher_columns(teacher, task, X_test)
    g_teacher = teacher_gradients(teacher, task, X_test, std, column)
    teacher_row = {
        "data": name,
        "seed": seed,
        "task": task,
        "teacher": kind,
        "n_train": len(X_train),
        "n_test": len(X_test),
        "n_features": X_train.shape[1],
        "teacher_score": score(task, y_test, teacher_test),
        "teacher_flat_test_rows": int((np.linalg.norm(g_teacher, axis=1) == 0).sum()),
        **info,
    }
    print(
        f"{name} seed {seed}: teacher {kind} score {teacher_row['teacher_score']:.4f}"
        f" ({info['teacher_fit_s']:.1f} s)",
        flush=True,
    )
    Distiller = DistilledRegressor if task == "regression" else DistilledClassifier
    rows = []
    for label, weight, kwargs in variants(task, is_torch, setting["weights"]):
        model = Distiller(
            teacher, max_epochs=setting["max_epochs"], random_state=seed, **kwargs
        )
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        fit_cpu_s = time.process_time() - cpu
        pred = model.predict(X_test)
        cosine, n_rows = gradient_cosine(
            model, teacher, task, X_test, std, g_teacher=g_teacher
        )
        evaluated = {k: int(v) for k, v in model.teacher_rows_evaluated_.items()}
        rows.append(
            {
                "data": name,
                "seed": seed,
                "model": label,
                "weight": weight,
                "test_score": score(task, y_test, pred),
                "fidelity": score(task, teacher_test, pred),
                "grad_cosine": cosine,
                "grad_cosine_rows": n_rows,
                "fit_s": fit_s,
                "fit_cpu_s": fit_cpu_s,
                "teacher_query_s": model.teacher_query_seconds_,
                "gradient_teacher_rows": sum(evaluated.values()),
                "gradient_teacher_rows_by_request": evaluated,
            }
        )
        r = rows[-1]
        if task == "classification":
            r["log_loss"] = log_loss(
                y_test, model.predict_proba(X_test), labels=model.classes_
            )
        w = "" if weight is None else f" w={weight:g}"
        print(
            f"  {label}{w}: score {r['test_score']:.4f} fidelity {r['fidelity']:.4f}"
            f" cos {cosine:.3f} fit {fit_s:.1f} s (CPU {fit_cpu_s:.1f} s)",
            flush=True,
        )
    main_row = next(r for r in rows if r["model"] == "main")
    for r in rows:
        keys = ["test_score", "fidelity", "grad_cosine", "fit_s", "fit_cpu_s"]
        for key in keys + (["log_loss"] if task == "classification" else []):
            r[f"delta_{key}"] = r[key] - main_row[key]
    return teacher_row, rows


def warm_up():
    """Fit and query each kind of model once, so one-time start-up costs (torch
    kernels, OpenMP pools, autograd's double backward) are not charged to the
    first model measured."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = X[:, 0] + rng.normal(scale=0.1, size=64)
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    boost = HistGradientBoostingClassifier(max_iter=5).fit(X, y > 0)
    for teacher, Distiller, target in (
        (forest, DistilledRegressor, y),
        (boost, DistilledClassifier, y > 0),
    ):
        for term in (
            InputGradientMatching(),
            AdversarialGradientMatching(),
        ):
            Distiller(
                teacher, max_epochs=2, random_state=0, terms=[("grad", term)]
            ).fit(X, target).predict(X)


# ----------------------------------------------------------------------------
# Summary and report
# ----------------------------------------------------------------------------

SUMMARISED = (
    "test_score",
    "fidelity",
    "grad_cosine",
    "log_loss",
    "fit_s",
    "fit_cpu_s",
    "teacher_query_s",
    "gradient_teacher_rows",
    "delta_test_score",
    "delta_fidelity",
    "delta_grad_cosine",
    "delta_log_loss",
    "delta_fit_s",
    "delta_fit_cpu_s",
)


def mean_std(values):
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return float(values.mean()), float(std)


def summarise(runs):
    groups = defaultdict(list)
    for r in runs:
        groups[r["data"], r["model"], r["weight"]].append(r)
    summary = []
    for (data, model, weight), rows in groups.items():
        row = {"data": data, "model": model, "weight": weight, "seeds": len(rows)}
        for key in SUMMARISED:
            if key in rows[0]:
                row[key], row[f"{key}_std"] = mean_std([r[key] for r in rows])
        # In how many seeds the term beat the main term alone.
        row["seeds_better"] = sum(r["delta_test_score"] > 0 for r in rows)
        row["seeds_worse"] = sum(r["delta_test_score"] < 0 for r in rows)
        summary.append(row)
    return summary


def _pm(mean, std, digits=4, signed=False):
    if not np.isfinite(mean):
        return "n/a"
    sign = "+" if signed else ""
    return f"{mean:{sign}.{digits}f} ± {std:.{digits}f}"


def markdown(result):
    s = result["setting"]
    env = result["environment"]
    lines = [
        "# Gradient terms: benchmark results",
        "",
        f"`{result['command']}`, {env['when']}, {env['machine']}; torch "
        f"{env['torch']}, skorch {env['skorch']}, scikit-learn {env['sklearn']}; "
        f"{result['wall_s'] / 60:.1f} minutes wall time. Setting `{s['name']}`: "
        f"seeds {result['seeds']}, gradient weights {list(s['weights'])}, every "
        f"student the default 2x64 ReLU MLP (Adam, lr 1e-3, batch 256) for "
        f"{s['max_epochs']} epochs, `alpha=0.5` (the main term weighs "
        "`beta = 1 - alpha = 0.5`; scratch: `alpha=1, beta=0`). Finite differences: "
        f"half-width {STEP} training standard deviations.",
        "",
        "Columns: mean ± sample standard deviation over the seeds. **score**: test "
        "R² (regression) or accuracy (classification). **Δ score**: paired "
        "difference to the main term alone in the same seed (mean ± std), and in "
        "how many seeds it was higher / lower. **fidelity**: R² against the "
        "teacher's test predictions, or label agreement. **grad cos**: mean per-row "
        "cosine between the student's and the teacher's input gradient on the test "
        "rows, in standardised input units (see `gradient_cosine` in the script). "
        "**log-loss**: test log-loss (classification; more sensitive than "
        "accuracy on 114 test rows). **+CPU s** / **+wall s**: CPU time (this "
        "process, all threads) and wall time of `fit` minus those of the "
        "main-term-only fit of the same seed; the machine is shared, so wall "
        "times carry other processes' load and CPU time is the cost to read. "
        "**teacher rows**: teacher evaluations spent on the gradients "
        "(`teacher_rows_evaluated_`; the main term's one query per training row "
        "not included); **query s**: `teacher_query_seconds_`, all teacher "
        "queries of the fit (wall). **control: zero teacher** rows are the same "
        "`InputGradientMatching` term with the teacher's derivatives replaced by "
        "zeros: a plain penalty on the student's own input gradients, to tell a "
        "gain from the teacher's derivatives from a gain from smoothing.",
    ]
    teachers = defaultdict(list)
    for t in result["teachers"]:
        teachers[t["data"]].append(t)
    for data in result["datasets"]:
        ts = teachers[data]
        t0 = ts[0]
        classification = t0["task"] == "classification"
        metric = "accuracy" if classification else "R²"
        fidelity = "agreement" if classification else "R² to teacher"
        tscore = _pm(*mean_std([t["teacher_score"] for t in ts]))
        derivatives = (
            "exact (autograd)" if "torch" in t0["teacher"] else "central differences"
        )
        columns = ["model", "weight", f"test {metric}", "Δ score vs main"]
        columns += ["better / worse", f"fidelity ({fidelity})", "grad cos"]
        columns += ["log-loss"] if classification else []
        columns += ["+CPU s", "+wall s", "teacher rows", "query s"]
        lines += [
            "",
            f"## {data}",
            "",
            f"{t0['task']}, {t0['n_train']} training / {t0['n_test']} test rows, "
            f"{t0['n_features']} features; teacher: {t0['teacher']}, test {metric} "
            f"{tscore}; teacher derivatives: {derivatives}." + _flat_note(ts),
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
        ]
        for r in result["summary"]:
            if r["data"] != data:
                continue
            main = r["model"] == "main"

            def delta(key, digits=4, r=r, main=main):
                if main:
                    return "—"
                return _pm(r[f"delta_{key}"], r[f"delta_{key}_std"], digits, True)

            cells = [
                r["model"],
                "" if r["weight"] is None else f"{r['weight']:g}",
                _pm(r["test_score"], r["test_score_std"]),
                delta("test_score"),
                "—" if main else f"{r['seeds_better']} / {r['seeds_worse']}",
                _pm(r["fidelity"], r["fidelity_std"]),
                _pm(r["grad_cosine"], r["grad_cosine_std"], digits=3),
            ]
            if classification:
                cells.append(_pm(r["log_loss"], r["log_loss_std"], digits=3))
            cells += [
                delta("fit_cpu_s", 1),
                delta("fit_s", 1),
                f"{r['gradient_teacher_rows']:,.0f}",
                f"{r['teacher_query_s']:.2f}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Automatic summary", "", *automatic_summary(result)]
    return "\n".join(lines) + "\n"


def _flat_note(teachers):
    flat = [t["teacher_flat_test_rows"] for t in teachers]
    if not any(flat):
        return ""
    return (
        f" On {'/'.join(map(str, flat))} test rows (per seed) the teacher is flat "
        "over the whole window along every input; the gradient cosine leaves "
        "them out."
    )


def automatic_summary(result):
    """Per data set: the settings whose score beat the main term in every seed,
    those below it in every seed, and the best and worst mean difference."""
    lines = []
    for data in result["datasets"]:
        rows = [
            r
            for r in result["summary"]
            if r["data"] == data and r["model"] not in ("main", "scratch")
        ]
        if not rows:
            continue

        def name(r):
            return f"{r['model']} (w={r['weight']:g})"

        always = [name(r) for r in rows if r["seeds_better"] == r["seeds"]]
        never = [name(r) for r in rows if r["seeds_worse"] == r["seeds"]]
        best = max(rows, key=lambda r: r["delta_test_score"])
        worst = min(rows, key=lambda r: r["delta_test_score"])
        lines.append(
            f"- **{data}**: above the main term in every seed: "
            f"{', '.join(always) or 'none'}; below it in every seed: "
            f"{', '.join(never) or 'none'}. Largest mean Δ score "
            f"{best['delta_test_score']:+.4f} ({name(best)}), smallest "
            f"{worst['delta_test_score']:+.4f} ({name(worst)})."
        )
    return lines


def write(result, out):
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradients.json").write_text(json.dumps(result, indent=2) + "\n")
    md = out / "gradients.md"
    text = markdown(result)
    if md.exists() and NOTES_MARKER in md.read_text():
        text += "\n" + NOTES_MARKER + md.read_text().split(NOTES_MARKER, 1)[1]
    md.write_text(text)
    print(f"wrote {out / 'gradients.json'} and {md}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 seed, 3 epochs, weight 1"
    )
    parser.add_argument("--seeds", type=int, help="seeds 0 .. N-1")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS)
    parser.add_argument("--weights", nargs="+", type=float, help="gradient weights")
    parser.add_argument(
        "--out",
        type=Path,
        help="write gradients.json and .md here (default: benchmarks/results/ "
        "for the full setting, nowhere for --quick)",
    )
    parser.add_argument(
        "--report", type=Path, help="rewrite the table of a saved JSON; fit nothing"
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.report is not None:
        result = json.loads(args.report.read_text())
        write(result, args.out or args.report.parent)
        return result
    name = "quick" if args.quick else "full"
    setting = {"name": name, **SETTINGS[name]}
    if args.seeds is not None:
        setting["seeds"] = args.seeds
    if args.weights:
        setting["weights"] = tuple(args.weights)
    datasets = tuple(args.datasets or DATASETS)
    # The 2x64 student is too small to gain from a second thread, and a shared
    # 2-core machine makes a second one slower (see benchmarks/README.md).
    torch.set_num_threads(1)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = "python benchmarks/bench_gradients.py " + " ".join(
        a for i, a in enumerate(argv) if a != "--out" and argv[i - 1 : i] != ["--out"]
    )
    started = time.perf_counter()
    warm_up()
    teachers, runs = [], []
    for data in datasets:
        for seed in range(setting["seeds"]):
            teacher_row, rows = run_dataset(data, seed, setting)
            teachers.append(teacher_row)
            runs += rows
    result = {
        "setting": {**setting, "weights": list(setting["weights"])},
        "command": command.strip(),
        "seeds": list(range(setting["seeds"])),
        "datasets": list(datasets),
        "wall_s": time.perf_counter() - started,
        "environment": {
            "when": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), torch "
            f"threads {torch.get_num_threads()}",
            "python": platform.python_version(),
            "torch": torch.__version__,
            "skorch": skorch.__version__,
            "sklearn": sklearn.__version__,
            "sklearn_kd": sklearn_kd.__version__,
        },
        "step": STEP,
        "teachers": teachers,
        "summary": summarise(runs),
        "runs": runs,
    }
    print(markdown(result))
    out = args.out or (None if args.quick else RESULTS_DIR)
    if out is not None:
        write(result, out)
    return result


if __name__ == "__main__":
    main()
