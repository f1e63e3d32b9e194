"""Reproduce the lecture's MLP notebook on digits: Hinton distillation across T.

The seed's Notebook 2 (``reference/seed_notebooks.md`` §2) distils a large MLP
into a one-hidden-layer MLP on MNIST and sweeps the temperature. MNIST needs a
download, so this runs the same experiment on scikit-learn's bundled 8x8
digits (1,797 images; 1,077 train, 270 validation, 450 test, stratified):

- teacher: an MLP 64-1024-1024-512-256-128-10 (batch norm, LeakyReLU, dropout
  0.3), a plain torch module trained once with the seed's loop (Adam 1e-3,
  learning rate cut by 10 on a validation plateau, early stopping on the
  validation loss, the best validation accuracy's weights kept);
- student: 64-64-10 with batch norm and ReLU (the seed's 784-64-10), given to
  ``DistilledClassifier`` as a module class inside a skorch template that
  holds the same training loop;
- for each seed, one set of initial student weights is trained from scratch
  (``alpha=1, beta=0``) and distilled at each T in {1, 2.5, 4, 7, 10}.

The seed weighs its soft-target term by 0.7 and the hard labels by 0.3; in
this library ``alpha`` weighs the true labels, so the same loss is
``alpha=0.3`` (``beta=0.7``), with the KL term times ``T**2`` as in the seed.
Unlike the seed, scratch and distilled students share one learning rate
(1e-3; the seed gave distilled students 3e-3), and both early-stop on the
validation cross-entropy to the true labels.

The table gives mean and standard deviation of the test accuracy over the
seeds, next to the seed's MNIST numbers, and a plot of test accuracy against T
goes to ``examples/output/seed_mlp_digits_T.png`` (when matplotlib is
installed).

Run ``python examples/seed_mlp_digits.py`` (5 seeds, 1-3 minutes on 2 cores),
or pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a one-seed smoke run
at two temperatures.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, LRScheduler
from torch import nn
from torch.utils.data import Subset

from sklearn_kd import DistilledClassifier

TEMPERATURES = (1.0, 2.5, 4.0, 7.0, 10.0)
#: The seed's MNIST test accuracies (%), mean and std over 5 seeds.
SEED_RESULTS = {
    "teacher": (98.57, None),
    "scratch": (96.63, 0.09),
    1.0: (97.04, 0.09),
    2.5: (97.39, 0.04),
    4.0: (97.19, 0.05),
    7.0: (96.98, 0.05),
    10.0: (96.87, 0.08),
}
OUTPUT = Path(__file__).resolve().parent / "output" / "seed_mlp_digits_T.png"


class TeacherMLP(nn.Sequential):
    """The seed's teacher, on 64 inputs: 1024-1024-512-256-128 hidden units."""

    def __init__(self, in_features=64, out_features=10):
        layers, width = [], in_features
        for i, hidden in enumerate((1024, 1024, 512, 256, 128)):
            layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU()]
            if i < 4:
                layers.append(nn.Dropout(0.3))
            width = hidden
        super().__init__(*layers, nn.Linear(width, out_features))


class StudentMLP(nn.Sequential):
    """The seed's student: one hidden layer of 64 units, batch norm, ReLU."""

    def __init__(self, in_features=64, out_features=10, hidden=64):
        super().__init__(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_features),
        )


class FixedSplit:
    """skorch ``train_split``: the first ``n_train`` rows train, the rest validate."""

    def __init__(self, n_train):
        self.n_train = n_train

    def __call__(self, dataset, y=None, **fit_params):
        rows = np.arange(len(dataset))
        return (
            Subset(dataset, rows[: self.n_train]),
            Subset(dataset, rows[self.n_train :]),
        )


def load_data():
    """Digits as float pixels in [0, 1], split 60/15/25 % with stratification."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=0
    )
    return X_train, X_val, X_test, y_train, y_val, y_test


def train_teacher(model, X_train, y_train, X_val, y_val, *, max_epochs, seed):
    """The seed's loop: plateau scheduler and early stopping on the validation
    loss (patience 7), keeping the weights of the best validation accuracy."""
    X_train, X_val = torch.as_tensor(X_train), torch.as_tensor(X_val)
    y_train, y_val = torch.as_tensor(y_train), torch.as_tensor(y_val)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.1, patience=3
    )
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_acc, best_state, wait = float("inf"), -1.0, None, 0
    for _ in range(max_epochs):
        model.train()
        for rows in torch.randperm(len(X_train), generator=generator).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_train[rows]), y_train[rows]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(X_val)
        val_loss = nn.functional.cross_entropy(logits, y_val).item()
        val_acc = (logits.argmax(1) == y_val).float().mean().item()
        scheduler.step(val_loss)
        if val_acc > best_acc:
            best_acc, best_state = val_acc, copy.deepcopy(model.state_dict())
        if val_loss < best_loss - 1e-4:
            best_loss, wait = val_loss, 0
        else:
            wait += 1
            if wait >= 7:
                break
    model.load_state_dict(best_state)
    return model.eval()


def student_template(init, n_train, *, lr, max_epochs):
    """The seed's student loop as a skorch template, starting from ``init``."""
    return NeuralNetClassifier(
        copy.deepcopy(init),
        optimizer=torch.optim.Adam,
        lr=lr,
        batch_size=64,
        max_epochs=max_epochs,
        train_split=FixedSplit(n_train),
        callbacks=[
            # Schedule and stop on the validation cross-entropy to the true
            # labels (the seed's criterion for every student), not on the
            # distillation objective.
            (
                "plateau",
                LRScheduler(
                    "ReduceLROnPlateau", monitor="valid_task", factor=0.1, patience=3
                ),
            ),
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_task",
                    patience=7,
                    threshold=1e-4,
                    threshold_mode="abs",
                    load_best=True,
                ),
            ),
        ],
    )


def save_plot(temperatures, distilled, scratch, teacher_acc, path):
    """Test accuracy against T, with the scratch student and the teacher."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    means, stds = distilled.mean(axis=0), distilled.std(axis=0)
    ax.errorbar(
        temperatures, means, yerr=stds, marker="o", capsize=3, label="distilled"
    )
    ax.axhline(scratch.mean(), color="grey", linestyle="--", label="from scratch")
    ax.axhspan(
        scratch.mean() - scratch.std(),
        scratch.mean() + scratch.std(),
        color="grey",
        alpha=0.2,
    )
    ax.axhline(teacher_acc, color="black", linestyle=":", label="teacher")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"digits: 64-64-10 student, mean ± std over {len(scratch)} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 1 seed, T in {1, 4}, short training (also SKLEARN_KD_QUICK=1)",
    )
    parser.add_argument("--seeds", type=int, help="number of seeds (default 5)")
    parser.add_argument("--lr", type=float, default=1e-3, help="students' lr")
    args = parser.parse_args(argv)
    # Small networks on batches of 64: one thread is as fast as two, and far
    # faster when other processes share the cores.
    torch.set_num_threads(1)

    n_seeds = args.seeds or (1 if args.quick else 5)
    temperatures = (1.0, 4.0) if args.quick else TEMPERATURES
    teacher_epochs, student_epochs = (8, 8) if args.quick else (50, 100)

    X_train, X_val, X_test, y_train, y_val, y_test = load_data()
    X_fit, y_fit = np.vstack([X_train, X_val]), np.concatenate([y_train, y_val])
    print(
        f"digits: {len(X_train)} train, {len(X_val)} validation, {len(X_test)} test "
        f"images; {n_seeds} seed(s), T in {list(temperatures)}"
    )

    start = time.perf_counter()
    torch.manual_seed(42)
    teacher = train_teacher(
        TeacherMLP(), X_train, y_train, X_val, y_val, max_epochs=teacher_epochs, seed=42
    )
    with torch.no_grad():
        teacher_pred = teacher(torch.as_tensor(X_test)).argmax(1).numpy()
    teacher_acc = 100 * np.mean(teacher_pred == y_test)
    n_params = sum(p.numel() for p in teacher.parameters())
    print(
        f"teacher: {n_params:,} parameters, test accuracy {teacher_acc:.2f}% "
        f"({time.perf_counter() - start:.0f} s)"
    )

    scratch = np.zeros(n_seeds)
    distilled = np.zeros((n_seeds, len(temperatures)))
    for i, seed in enumerate(range(42, 42 + n_seeds)):
        torch.manual_seed(seed)
        init = StudentMLP()  # shared by every student of this seed
        settings = [("scratch", 1.0, 0.0, 1.0)] + [
            (T, 0.3, None, T) for T in temperatures
        ]
        for key, alpha, beta, T in settings:
            student = DistilledClassifier(
                teacher,
                student_template(
                    init, len(X_train), lr=args.lr, max_epochs=student_epochs
                ),
                alpha=alpha,
                beta=beta,
                T=T,
                random_state=seed,
            ).fit(X_fit, y_fit)
            accuracy = 100 * student.score(X_test, y_test)
            if key == "scratch":
                scratch[i] = accuracy
            else:
                distilled[i, temperatures.index(key)] = accuracy
        print(
            f"seed {seed}: scratch {scratch[i]:.2f}%, distilled "
            + ", ".join(
                f"T={T:g} {a:.2f}%"
                for T, a in zip(temperatures, distilled[i], strict=True)
            )
        )
    elapsed = time.perf_counter() - start

    header = f"{'model':<18} {'digits test acc':>17}   {'seed (MNIST)':>14}"
    print()
    print(f"test accuracy, mean ± std over {n_seeds} seed(s) (std with ddof=0)")
    print(header)
    print("-" * len(header))
    seed_teacher = SEED_RESULTS["teacher"][0]
    print(f"{'teacher':<18} {teacher_acc:>9.2f}{'':8}   {seed_teacher:>7.2f}")
    rows = [("from scratch", scratch, SEED_RESULTS["scratch"])] + [
        (f"distilled T={T:g}", distilled[:, j], SEED_RESULTS[T])
        for j, T in enumerate(temperatures)
    ]
    for name, values, (seed_mean, seed_std) in rows:
        print(
            f"{name:<18} {values.mean():>9.2f} ± {values.std():<5.2f}   "
            f"{seed_mean:>7.2f} ± {seed_std:.2f}"
        )
    best = int(np.argmax(distilled.mean(axis=0)))
    print()
    print(
        f"best T on test: {temperatures[best]:g} "
        f"({distilled[:, best].mean() - scratch.mean():+.2f} points over scratch; "
        "seed: T=2.5, +0.76 points)"
    )
    path = save_plot(temperatures, distilled, scratch, teacher_acc, OUTPUT)
    if path is not None:
        print(f"plot written to {os.path.relpath(path)}")
    print(f"total time {elapsed:.0f} s")
    return {"teacher": teacher_acc, "scratch": scratch, "distilled": distilled}


if __name__ == "__main__":
    main()
