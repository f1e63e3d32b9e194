"""Match what the teacher computes inside: FitNets and similarity preservation.

Output distillation teaches a student the teacher's *answers*. Feature terms
add what the teacher computes on the way, read once per fit on the training
rows:

- **FitNets** (``FeatureMatching``; Romero et al., "FitNets: hints for thin
  deep nets", ICLR 2015): a learned regressor (linear by default) maps the
  student's last hidden layer onto a teacher feature, and the squared error
  of that map joins the loss. The student's layer must *contain* the
  teacher's feature, up to a linear map; the widths may differ.
- **Similarity preservation** (``SimilarityPreserving``; Tung and Mori,
  "Similarity-preserving knowledge distillation", ICCV 2019): within each
  batch, the rows that look alike in the teacher's feature space must look
  alike in the student's. Only the geometry is matched, nothing is learned
  besides the student. Its loss divides by the squared batch size, so it is
  small (about 0.01 on batches of 256 rows, where the output loss starts near
  1) and needs a weight in the hundreds to matter; the paper uses 3000. Here
  it gets 100: in ``benchmarks/bench_features.py`` weight 1000 hurt the
  regressions (by up to 0.48 R^2) and 100 was neutral to slightly worse.

What a "feature" is depends on the teacher:

- a torch network: the output of any named submodule (here ``hidden_3``,
  the last hidden layer of a 3x128 MLP trained in this script), caught by a
  forward hook;
- a tree ensemble: ``teacher_layer='trees'``, the matrix of per-tree
  predictions (one column per tree), here reduced to 16 principal components
  with ``n_components=16``. Two rows the forest's trees treat alike are close
  in this space even when their averages differ little.

On the seed's synthetic regression (``y = sin(x0 x1) + 0.5 cos(pi x2) +
tanh(x3) + 0.2 x4^2 - 1.5 exp(-x0^2) + 0.1 [x5 > 0] + noise``, X uniform on
[-2, 2]^10, 2,000 rows), each teacher is distilled into the default 2x64 MLP
with the HP loss alone, plus FitNets, plus similarity, and plus both; the
table gives the test R^2, the fidelity to the teacher (R^2 against its
predictions) and the fit time, next to the teachers and the same MLP trained
from scratch. One seed: differences of a few thousandths are within the
seed-to-seed noise (``benchmarks/bench_features.py`` measures them over seeds
and data sets).

Run ``python examples/feature_matching.py`` (under a minute on 2 cores),
or pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a smoke run.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: with torch and scikit-learn's
# OpenMP runtimes in one process, HistGradientBoosting can otherwise crawl on a
# busy machine. Set before numpy, scikit-learn and torch load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time
from collections import OrderedDict

import numpy as np
import torch
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_kd import DistilledRegressor
from sklearn_kd.losses import FeatureMatching, SimilarityPreserving


def make_data(n_rows, seed=0):
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


class TorchTeacher(nn.Module):
    """A 3x128 SiLU MLP with named layers ``hidden_1..3`` and ``output``.

    It takes X as the distiller passes it (raw) and standardises it itself,
    and returns predictions in the units of y.
    """

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


def train_torch_teacher(X, y, epochs, seed=0):
    """Adam (lr 3e-3, cosine decay), batches of 128, MSE on standardised y."""
    torch.manual_seed(seed)
    model = TorchTeacher(X, y)
    inputs = torch.tensor(X, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    for _ in range(epochs):
        for rows in torch.randperm(len(inputs)).split(128):
            loss = (((model(inputs[rows]) - target[rows]) / model.y_std) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    return model.eval()


def teacher_predictions(teacher, X):
    if isinstance(teacher, nn.Module):
        with torch.inference_mode():
            return teacher(torch.tensor(X, dtype=torch.float32)).numpy().ravel()
    return teacher.predict(X)


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
        help="smoke run: 600 rows, short training (also SKLEARN_KD_QUICK=1)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warm_up()
    n_rows, teacher_epochs, n_trees, epochs = (
        (600, 10, 30, 5) if args.quick else (2000, 150, 200, 100)
    )
    X, y = make_data(n_rows)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0
    )
    start = time.perf_counter()
    torch_teacher = train_torch_teacher(X_train, y_train, teacher_epochs)
    torch_s = time.perf_counter() - start
    start = time.perf_counter()
    forest = RandomForestRegressor(n_estimators=n_trees, n_jobs=-1, random_state=0)
    forest.fit(X_train, y_train)
    forest_s = time.perf_counter() - start

    # (teacher, its feature, n_components) for every term of this teacher.
    teachers = {
        "torch MLP (hidden_3)": (torch_teacher, "hidden_3", None, torch_s),
        "random forest ('trees', 16 PCs)": (forest, "trees", 16, forest_s),
    }
    common = {"alpha": 0.5, "max_epochs": epochs, "random_state": 0}

    start = time.perf_counter()
    scratch = DistilledRegressor(forest, **{**common, "alpha": 1.0, "beta": 0.0})
    scratch_pred = scratch.fit(X_train, y_train).predict(X_test)
    scratch_s = time.perf_counter() - start

    results = {}
    for name, (teacher, layer, k, teacher_s) in teachers.items():
        reference = teacher_predictions(teacher, X_test)
        rows = {
            "teacher": (r2_score(y_test, reference), 1.0, teacher_s),
            "same MLP from scratch": (
                r2_score(y_test, scratch_pred),
                r2_score(reference, scratch_pred),
                scratch_s,
            ),
        }
        fitnets = ("fitnets", FeatureMatching(1.0, teacher_layer=layer, n_components=k))
        similar = (
            "similarity",
            SimilarityPreserving(100.0, teacher_layer=layer, n_components=k),
        )
        variants = {
            "HP loss only": None,
            "+ FitNets (w=1)": [fitnets],
            "+ similarity (w=100)": [similar],
            "+ FitNets + similarity": [fitnets, similar],
        }
        for label, terms in variants.items():
            student = DistilledRegressor(teacher, terms=terms, **common)
            start = time.perf_counter()
            pred = student.fit(X_train, y_train).predict(X_test)
            rows[label] = (
                r2_score(y_test, pred),
                r2_score(reference, pred),
                time.perf_counter() - start,
            )
        # Each term logs its unweighted loss per epoch in history_.
        last = student.history_[-1]
        rows["_losses"] = (
            f"last epoch, unweighted: hp {last['train_hp']:.4f}, fitnets "
            f"{last['train_fitnets']:.4f}, similarity {last['train_similarity']:.5f}"
        )
        results[name] = rows

    print()
    print(
        f"synthetic regression, {len(X_train)} train / {len(X_test)} test rows; "
        f"student: 2x64 MLP, {epochs} epochs, alpha=0.5; fidelity: R2 to the teacher"
    )
    header = f"{'model':<36}{'test R2':>10}{'fidelity':>10}{'fit s':>8}"
    for name, rows in results.items():
        print()
        print(f"teacher: {name}")
        print(header)
        print("-" * len(header))
        for label, values in rows.items():
            if label.startswith("_"):
                continue
            r2, fidelity, seconds = values
            print(f"{label:<36}{r2:>10.4f}{fidelity:>10.4f}{seconds:>8.1f}")
        print(f"({rows['_losses']}, FitNets + similarity student)")
    return results


if __name__ == "__main__":
    main()
