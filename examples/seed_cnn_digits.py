"""Reproduce the lecture's CNN notebook on digits: a CNN distilled into a small CNN.

The seed's Notebook 3 (``reference/seed_notebooks.md`` §3) distils pretrained
ResNets into small CNNs on CIFAR, which needs downloads. This runs the same
scenario offline on scikit-learn's 8x8 digits, seen as 1x8x8 images:

- teacher: a CNN (three 3x3 convolutions with batch norm, two poolings, a
  dropout head; about 230,000 parameters), a plain torch module trained here;
- student: a CNN with one 3x3 convolution of 8 channels, one pooling and a
  32-unit head (about 4,600 parameters), given to ``DistilledClassifier`` as
  an unfitted skorch ``NeuralNetClassifier`` template: its module, optimizer,
  learning rate, batch size, epochs, validation split and callbacks are used;
- the seed's loss, ``alpha * CE + (1 - alpha) * T^2 KL`` with ``alpha=0.2``
  and ``T=10`` (Notebook 3 weighs the hard labels by alpha, as this library
  does), against the same student trained from scratch (``alpha=1, beta=0``)
  from the same initial weights, over several seeds.

Both networks take the flat ``(n, 64)`` rows and reshape them to images
themselves: the teacher gets ``X`` as passed to ``fit``, and the student the
matrix the distiller gives it, here the same pixels (``preprocessor=None``;
the default would standardise each pixel column). Both students stop early on
the validation cross-entropy to the true labels, so the distilled one is not
given a longer run by a slower-falling objective (the seed's §3.4 pitfall).

Run ``python examples/seed_cnn_digits.py`` (5 seeds, 1-2 minutes on 2 cores),
or pass ``--quick`` (or set ``SKLEARN_KD_QUICK=1``) for a one-seed smoke run.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from torch import nn

from sklearn_kd import DistilledClassifier

#: The seed's single-run CIFAR results (test accuracy, %), for scale only.
SEED_RESULTS = {
    "CIFAR-10, ResNet-56 -> CNN": (94.37, 70.86, 71.68),
    "CIFAR-100, ResNet-50 -> CNN": (82.75, 39.86, 45.46),
    "CIFAR-100, ResNet-50 -> ResNet-18": (82.75, 63.94, 77.74),
}


class TeacherCNN(nn.Module):
    """Conv 32-64 (pool) -128 (pool) with batch norm, then a 256-unit head."""

    def __init__(self, n_classes=10):
        super().__init__()

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out)]

        self.features = nn.Sequential(
            *block(1, 32),
            nn.ReLU(),
            *block(32, 64),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
            *block(64, 128),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 2x2
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(128 * 2 * 2, 256),
            nn.ReLU(),
            nn.Dropout(0.3),
            nn.Linear(256, n_classes),
        )

    def forward(self, x):
        return self.head(self.features(x.reshape(-1, 1, 8, 8)))


class StudentCNN(nn.Module):
    """One 3x3 convolution, one pooling, a small head: rows in, logits out.

    ``out_features`` is set by the distiller from the classes of ``y``.
    """

    def __init__(self, out_features=10, channels=8, hidden=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
            nn.Flatten(),
            nn.Linear(channels * 4 * 4, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out_features),
        )

    def forward(self, x):
        return self.net(x.reshape(-1, 1, 8, 8))


def train_teacher(model, X_train, y_train, X_val, y_val, *, max_epochs, seed):
    """Adam 1e-3, batch 64, early stopping on the validation loss (patience
    10) with the best weights restored by a deep copy."""
    X_train, X_val = torch.as_tensor(X_train), torch.as_tensor(X_val)
    y_train, y_val = torch.as_tensor(y_train), torch.as_tensor(y_val)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_state, wait = float("inf"), None, 0
    for _ in range(max_epochs):
        model.train()
        for rows in torch.randperm(len(X_train), generator=generator).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_train[rows]), y_train[rows]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = nn.functional.cross_entropy(model(X_val), y_val).item()
        if val_loss < best_loss:
            best_loss, best_state, wait = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if wait >= 10:
                break
    model.load_state_dict(best_state)
    return model.eval()


def student_template(max_epochs):
    """The small CNN and how to train it, as an unfitted skorch net."""
    return NeuralNetClassifier(
        StudentCNN,
        module__channels=8,
        module__hidden=32,
        optimizer=torch.optim.Adam,
        lr=2e-3,
        batch_size=64,
        max_epochs=max_epochs,
        train_split=ValidSplit(0.2, stratified=True, random_state=0),
        callbacks=[
            # Stop on the validation cross-entropy to the true labels.
            (
                "early_stopping",
                EarlyStopping(monitor="valid_task", patience=10, load_best=True),
            ),
        ],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 1 seed, at most 5 epochs (also SKLEARN_KD_QUICK=1)",
    )
    parser.add_argument("--seeds", type=int, help="number of seeds (default 5)")
    parser.add_argument("--alpha", type=float, default=0.2, help="weight of labels")
    parser.add_argument("--T", type=float, default=10.0, help="temperature")
    args = parser.parse_args(argv)
    # Small convolutions on batches of 64: one thread is as fast as two, and
    # far faster when other processes share the cores.
    torch.set_num_threads(1)

    n_seeds = args.seeds or (1 if args.quick else 5)
    teacher_epochs, student_epochs = (5, 5) if args.quick else (60, 150)

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)  # pixels in [0, 1], flat rows of 64
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=0
    )
    print(
        f"digits as 1x8x8 images: {len(X_rest)} training images ({len(X_val)} of "
        f"them validate the teacher), {len(X_test)} test; {n_seeds} seed(s)"
    )

    start = time.perf_counter()
    torch.manual_seed(0)
    teacher = train_teacher(
        TeacherCNN(), X_train, y_train, X_val, y_val, max_epochs=teacher_epochs, seed=0
    )
    with torch.no_grad():
        teacher_acc = 100 * np.mean(
            teacher(torch.as_tensor(X_test)).argmax(1).numpy() == y_test
        )
    n_teacher = sum(p.numel() for p in teacher.parameters())
    print(
        f"teacher CNN: {n_teacher:,} parameters, test accuracy {teacher_acc:.2f}% "
        f"({time.perf_counter() - start:.0f} s)"
    )

    results = {"scratch": [], "distilled": []}
    for seed in range(n_seeds):
        line = []
        for name, alpha, beta in (
            ("scratch", 1.0, 0.0),
            ("distilled", args.alpha, None),
        ):
            # The same random_state gives both students the same initial
            # weights, batch order and validation rows.
            student = DistilledClassifier(
                teacher,
                student_template(student_epochs),
                alpha=alpha,
                beta=beta,
                T=args.T,
                preprocessor=None,
                random_state=seed,
            ).fit(X_rest, y_rest)
            accuracy = 100 * student.score(X_test, y_test)
            results[name].append(accuracy)
            line.append(f"{name} {accuracy:.2f}% ({len(student.history_)} epochs)")
        print(f"seed {seed}: " + ", ".join(line))
    elapsed = time.perf_counter() - start
    n_student = sum(p.numel() for p in student.student_.module_.parameters())

    scratch, distilled = np.array(results["scratch"]), np.array(results["distilled"])
    print()
    print(
        f"test accuracy, mean ± std over {n_seeds} seed(s) (std with ddof=0); "
        f"alpha={args.alpha:g}, T={args.T:g}"
    )
    header = f"{'model':<30} {'parameters':>10} {'test acc':>15}"
    print(header)
    print("-" * len(header))
    print(f"{'teacher CNN':<30} {n_teacher:>10,} {teacher_acc:>8.2f}")
    for name, values in (
        ("student CNN from scratch", scratch),
        ("distilled student CNN", distilled),
    ):
        print(f"{name:<30} {n_student:>10,} {values.mean():>8.2f} ± {values.std():.2f}")
    gain = distilled - scratch
    print()
    print(
        f"distillation gain: {gain.mean():+.2f} ± {gain.std():.2f} points "
        f"(better in {int((gain > 0).sum())} of {n_seeds} seeds)"
    )
    print("seed (CIFAR, one run each): teacher / scratch / distilled")
    for name, (t, s, d) in SEED_RESULTS.items():
        print(f"  {name:<34} {t:.2f} / {s:.2f} / {d:.2f} ({d - s:+.2f})")
    print(f"total time {elapsed:.0f} s")
    return {"teacher": teacher_acc, "scratch": scratch, "distilled": distilled}


if __name__ == "__main__":
    main()
