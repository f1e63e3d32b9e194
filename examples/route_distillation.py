"""Route-constrained distillation: follow the teacher's training, not just its end.

Jin et al. ("Knowledge distillation via route constrained optimization",
ICCV 2019) argue that a small student learns more easily from the sequence of
checkpoints a teacher passed through than from the final teacher alone: an
early checkpoint is a smoother, easier target, and each later one is a small
step from the last (an easy-to-hard curriculum). RCO trains the student on
the first checkpoint's outputs, then moves it to the next, and ends on the
final teacher.

``sklearn_kd.teachers.TeacherRoute`` is such a teacher. The distiller queries
every checkpoint once and a callback switches the targets at the start of the
epochs it reaches (evenly spread by default, or at ``milestones``); the
checkpoint used in each epoch is logged as ``history_[:, "teacher_checkpoint"]``.
Checkpoints can be:

- the stages of a boosted ensemble, or growing prefixes of a forest's trees:
  ``TeacherRoute.from_staged(model, n_checkpoints=4)``. Boosting has a real
  route: its first stages are a coarse fit that the later ones refine;
- the ``state_dict`` s of a torch network saved during its training:
  ``TeacherRoute.from_state_dicts(module, state_dicts)``;
- any fitted models, modules or callables: ``TeacherRoute([m1, m2, m3])``.

Two parts, each comparing the default 2x64 MLP distilled from the final
teacher only with the same MLP distilled along the route (same seed, epochs
and loss), next to the same MLP trained from scratch:

1. digits (scikit-learn's 8x8 images, 10 classes): a
   ``HistGradientBoostingClassifier`` of 100 iterations and its route of 4
   stage counts; soft targets at T=4;
2. the seed's synthetic regression (2,000 rows, X uniform on [-2, 2]^10): a
   3x128 torch MLP trained here, whose weights are saved after 1/8, 1/4, 1/2
   and all of its epochs; the HP loss.

Each table lists the route's checkpoints with their own test score, then the
students' test score (accuracy or R^2), fidelity to the final teacher (label
agreement or R^2 to its predictions) and fit time. One seed: differences
of a few thousandths are noise (``benchmarks/bench_features.py`` repeats the
comparison over seeds and data sets).

Run ``python examples/route_distillation.py`` (about 30 s on 2 cores), or
pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections import OrderedDict

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.teachers import TeacherRoute


def print_table(title, columns, rows):
    header = f"{'model':<44}" + "".join(f"{c:>10}" for c in columns)
    print()
    print(title)
    print(header)
    print("-" * len(header))
    for name, values in rows.items():
        cells = "".join(
            f"{'':>10}" if v is None else f"{v:>10.4f}" if isinstance(v, float) else v
            for v in values
        )
        print(f"{name:<44}{cells}")


def describe(schedule):
    """``[0, 0, 1, 1, 1]`` as ``'epochs 1-2: 0, 3-5: 1'``."""
    runs, start = [], 1
    for epoch in range(1, len(schedule) + 1):
        if epoch == len(schedule) or schedule[epoch] != schedule[epoch - 1]:
            runs.append(f"{start}-{epoch}: {schedule[epoch - 1]}")
            start = epoch + 1
    return "epochs " + ", ".join(runs)


def fit_students(Distiller, teacher, route, X_train, y_train, X_test, common):
    """Final-teacher-only, route and scratch students: predictions, seconds and
    the route student's checkpoint per epoch."""
    students = {
        "distilled from the final teacher": Distiller(teacher, **common),
        "distilled along the route (RCO)": Distiller(route, **common),
        "same MLP from scratch": Distiller(
            teacher, **{**common, "alpha": 1.0, "beta": 0.0}
        ),
    }
    out = {}
    for name, student in students.items():
        start = time.perf_counter()
        student.fit(X_train, y_train)
        out[name] = (student.predict(X_test), time.perf_counter() - start)
    schedule = students["distilled along the route (RCO)"].history_[
        :, "teacher_checkpoint"
    ]
    return out, schedule


def boosting_route(epochs, n_iter):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    start = time.perf_counter()
    boosting = HistGradientBoostingClassifier(max_iter=n_iter, random_state=0)
    boosting.fit(X_train, y_train)
    teacher_s = time.perf_counter() - start
    route = TeacherRoute.from_staged(boosting, n_checkpoints=4)
    final = boosting.predict(X_test)

    rows = {}
    # Each checkpoint's own test accuracy: the route the student follows.
    stages = list(boosting.staged_predict(X_test))
    for i, checkpoint in enumerate(route.checkpoints):
        pred = stages[checkpoint.size - 1]
        rows[f"checkpoint {i}: first {checkpoint.size} stages"] = (
            float(np.mean(pred == y_test)),
            float(np.mean(pred == final)),
            teacher_s if i == len(route.checkpoints) - 1 else None,
        )
    common = {"alpha": 0.5, "T": 4.0, "max_epochs": epochs, "random_state": 0}
    students, schedule = fit_students(
        DistilledClassifier, boosting, route, X_train, y_train, X_test, common
    )
    for name, (pred, seconds) in students.items():
        rows[name] = (
            float(np.mean(pred == y_test)),
            float(np.mean(pred == final)),
            seconds,
        )
    print_table(
        f"1. digits ({len(X_train)} train, {len(X_test)} test rows): "
        f"HistGradientBoosting, {n_iter} iterations; student {epochs} epochs",
        ("test acc", "agreement", "fit s"),
        rows,
    )
    print(
        f"route student's checkpoint (history_[:, 'teacher_checkpoint']): {describe(schedule)}"
    )
    return rows


def synthetic(n_rows, seed=0):
    """The seed's synthetic regression target on ``n_rows`` rows."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n_rows, 10))
    y = (
        np.sin(X[:, 0] * X[:, 1])
        + 0.5 * np.cos(np.pi * X[:, 2])
        + np.tanh(X[:, 3])
        + 0.2 * X[:, 4] ** 2
        - 1.5 * np.exp(-(X[:, 0] ** 2))
        + 0.1 * (X[:, 5] > 0)
        + rng.normal(0, 0.1, n_rows)
    )
    return X, y


class TeacherMLP(nn.Module):
    """3x128 SiLU MLP on raw X (standardised inside), predictions in y's units."""

    def __init__(self, X, y, width=128):
        super().__init__()
        std = X.std(axis=0)
        self.register_buffer("x_mean", torch.tensor(X.mean(axis=0)).float())
        self.register_buffer("x_std", torch.tensor(np.where(std > 0, std, 1)).float())
        self.register_buffer("y_mean", torch.tensor(float(y.mean())))
        self.register_buffer("y_std", torch.tensor(float(y.std())))
        self.layers = nn.Sequential(
            OrderedDict(
                hidden_1=nn.Sequential(nn.Linear(X.shape[1], width), nn.SiLU()),
                hidden_2=nn.Sequential(nn.Linear(width, width), nn.SiLU()),
                hidden_3=nn.Sequential(nn.Linear(width, width), nn.SiLU()),
                output=nn.Linear(width, 1),
            )
        )

    def forward(self, x):
        return self.layers((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean


def train_with_checkpoints(X, y, epochs, save_after, seed=0):
    """Train a ``TeacherMLP``; its ``state_dict`` after each epoch of ``save_after``."""
    torch.manual_seed(seed)
    model = TeacherMLP(X, y)
    inputs = torch.tensor(X, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    states = []
    for epoch in range(1, epochs + 1):
        model.train()
        for rows in torch.randperm(len(inputs)).split(128):
            loss = (((model(inputs[rows]) - target[rows]) / model.y_std) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        if epoch in save_after:
            # A deep copy: state_dict() returns live references to the weights.
            states.append(copy.deepcopy(model.state_dict()))
    return model.eval(), states


def torch_route(epochs, n_rows, teacher_epochs):
    X, y = synthetic(n_rows)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0
    )
    save_after = [max(1, round(teacher_epochs * f)) for f in (1 / 8, 1 / 4, 1 / 2)]
    save_after.append(teacher_epochs)
    start = time.perf_counter()
    teacher, states = train_with_checkpoints(
        X_train, y_train, teacher_epochs, save_after
    )
    teacher_s = time.perf_counter() - start
    route = TeacherRoute.from_state_dicts(teacher, states)

    def predict(module):
        with torch.inference_mode():
            return module(torch.tensor(X_test, dtype=torch.float32)).numpy().ravel()

    final = predict(teacher)
    rows = {}
    for i, (epoch, checkpoint) in enumerate(
        zip(save_after, route.checkpoints, strict=True)
    ):
        pred = predict(checkpoint.module)
        rows[f"checkpoint {i}: after epoch {epoch}"] = (
            r2_score(y_test, pred),
            r2_score(final, pred),
            teacher_s if i == len(save_after) - 1 else None,
        )
    common = {"alpha": 0.5, "max_epochs": epochs, "random_state": 0}
    students, schedule = fit_students(
        DistilledRegressor, teacher, route, X_train, y_train, X_test, common
    )
    for name, (pred, seconds) in students.items():
        rows[name] = (r2_score(y_test, pred), r2_score(final, pred), seconds)
    print_table(
        f"2. synthetic regression ({len(X_train)} train, {len(X_test)} test rows): "
        f"3x128 torch MLP, {teacher_epochs} epochs; student {epochs} epochs",
        ("test R2", "fidelity", "fit s"),
        rows,
    )
    print(
        f"route student's checkpoint (history_[:, 'teacher_checkpoint']): {describe(schedule)}"
    )
    return rows


def warm_up():
    """Build one torch optimizer before timing anything: torch loads its
    optimizer machinery on first use (seconds on a busy machine), which would
    otherwise be charged to whichever model is fitted first."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: small teachers, 8 epochs (also SKLEARN_KD_QUICK=1)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warm_up()
    if args.quick:
        epochs, n_iter, n_rows, teacher_epochs = 8, 20, 600, 8
    else:
        epochs, n_iter, n_rows, teacher_epochs = 100, 100, 2000, 150
    start = time.perf_counter()
    results = {
        "boosting": boosting_route(epochs, n_iter),
        "torch": torch_route(epochs, n_rows, teacher_epochs),
    }
    print()
    print(f"total time {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
