"""Compress a convolutional network into a 50x smaller one
=======================================================

Distillation is not limited to tabular models: any torch module can teach and
any module can learn. Here a CNN of about 230,000 parameters, trained on
scikit-learn's bundled 8x8 digits seen as 1x8x8 images, is distilled into a
CNN of about 4,600 parameters (one convolution, one pooling, a small head),
given to ``DistilledClassifier`` as an unfitted skorch ``NeuralNetClassifier``
template. The distilled student is compared, seed by seed, with the same
student trained on the labels alone from the same initial weights: the table
gives each model's size and test accuracy, the plot accuracy against size.
"""

# %%
# Settings
# --------
# The full setting uses 5 seeds (1-2 minutes on 2 cores); ``SKLEARN_KD_QUICK=1``
# one seed and at most 5 epochs. ``ALPHA`` weighs the cross-entropy to the
# true labels and ``1 - ALPHA`` the soft targets at temperature ``T``.
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from _settings import pick
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from torch import nn

from sklearn_kd import DistilledClassifier

# Small convolutions on batches of 64: one thread is as fast as two, and far
# faster when other processes share the cores.
torch.set_num_threads(1)

N_SEEDS = pick(5, 1)
TEACHER_EPOCHS, STUDENT_EPOCHS = pick((60, 150), (5, 5))
ALPHA, T = 0.2, 10.0

# %%
# The data
# --------
# Pixels in [0, 1], kept as flat rows of 64: both networks reshape them to
# images themselves. 25 % of the images are held out for the test; of the
# rest, 20 % validate the teacher's training.

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_rest, X_test, y_rest, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
X_train, X_val, y_train, y_val = train_test_split(
    X_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=0
)
print(
    f"digits as 1x8x8 images: {len(X_rest)} training images ({len(X_val)} of "
    f"them validate the teacher), {len(X_test)} test; {N_SEEDS} seed(s)"
)

# %%
# The networks
# ------------
# The teacher: three 3x3 convolutions (32, 64, 128 channels) with batch norm,
# two poolings and a dropout head of 256 units. The student: one 3x3
# convolution of 8 channels, one pooling and a 32-unit head.


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


# %%
# Training the teacher
# --------------------
# Plain torch: Adam at 1e-3, batches of 64, early stopping on the validation
# loss (patience 10) with the best weights restored.


def train_teacher(model, *, max_epochs, seed):
    X_tr, X_va = torch.as_tensor(X_train), torch.as_tensor(X_val)
    y_tr, y_va = torch.as_tensor(y_train), torch.as_tensor(y_val)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    best_loss, best_state, wait = float("inf"), None, 0
    for _ in range(max_epochs):
        model.train()
        for rows in torch.randperm(len(X_tr), generator=generator).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X_tr[rows]), y_tr[rows]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = nn.functional.cross_entropy(model(X_va), y_va).item()
        if val_loss < best_loss:
            best_loss, best_state, wait = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if wait >= 10:
                break
    model.load_state_dict(best_state)
    return model.eval()


start = time.perf_counter()
torch.manual_seed(0)
teacher = train_teacher(TeacherCNN(), max_epochs=TEACHER_EPOCHS, seed=0)
with torch.no_grad():
    teacher_acc = 100 * np.mean(
        teacher(torch.as_tensor(X_test)).argmax(1).numpy() == y_test
    )
n_teacher = sum(p.numel() for p in teacher.parameters())
print(
    f"teacher CNN: {n_teacher:,} parameters, test accuracy {teacher_acc:.2f}% "
    f"({time.perf_counter() - start:.0f} s)"
)

# %%
# The student, as a skorch template
# ---------------------------------
# The distiller uses the template's module, optimizer, learning rate, batch
# size, epochs, validation split and callbacks. Early stopping watches the
# validation cross-entropy to the *true labels* (``valid_task``), so the
# distilled student is not given a longer run by a slower-falling objective.


def student_template():
    """The small CNN and how to train it, as an unfitted skorch net."""
    return NeuralNetClassifier(
        StudentCNN,
        module__channels=8,
        module__hidden=32,
        optimizer=torch.optim.Adam,
        lr=2e-3,
        batch_size=64,
        max_epochs=STUDENT_EPOCHS,
        train_split=ValidSplit(0.2, stratified=True, random_state=0),
        callbacks=[
            (
                "early_stopping",
                EarlyStopping(monitor="valid_task", patience=10, load_best=True),
            ),
        ],
    )


# %%
# Scratch and distilled students
# ------------------------------
# The same ``random_state`` gives both students the same initial weights,
# batch order and validation rows. The teacher gets ``X`` as passed to
# ``fit``; ``preprocessor=None`` hands the student the same pixels (the
# default would standardise each pixel column).

results = {"scratch": [], "distilled": []}
for seed in range(N_SEEDS):
    line = []
    for name, alpha, beta in (("scratch", 1.0, 0.0), ("distilled", ALPHA, None)):
        student = DistilledClassifier(
            teacher,
            student_template(),
            alpha=alpha,
            beta=beta,
            T=T,
            preprocessor=None,
            random_state=seed,
        ).fit(X_rest, y_rest)
        accuracy = 100 * student.score(X_test, y_test)
        results[name].append(accuracy)
        line.append(f"{name} {accuracy:.2f}% ({len(student.history_)} epochs)")
    print(f"seed {seed}: " + ", ".join(line))
print(f"total time {time.perf_counter() - start:.0f} s")
n_student = sum(p.numel() for p in student.student_.module_.parameters())

# %%
# Results
# -------
# Test accuracy (%), mean and standard deviation (``ddof=0``) over the seeds,
# with ``alpha=0.2`` and ``T=10``.

scratch, distilled = np.array(results["scratch"]), np.array(results["distilled"])
table = pd.DataFrame(
    {
        "parameters": [n_teacher, n_student, n_student],
        "test acc mean": [teacher_acc, scratch.mean(), distilled.mean()],
        "test acc std": [np.nan, scratch.std(), distilled.std()],
    },
    index=["teacher CNN", "student CNN from scratch", "distilled student CNN"],
)
print(table.to_string(float_format="%.2f", na_rep=""))
gain = distilled - scratch
print(
    f"\ndistillation gain: {gain.mean():+.2f} ± {gain.std():.2f} points "
    f"(better in {int((gain > 0).sum())} of {N_SEEDS} seeds)"
)

# %%
# Accuracy against size
# ---------------------
# What the compression costs: the student holds 2 % of the teacher's
# parameters; distillation recovers part of the accuracy the small network
# loses when it learns from the labels alone.

fig, ax = plt.subplots(figsize=(6, 4))
ax.errorbar(
    [n_student, n_student],
    [scratch.mean(), distilled.mean()],
    yerr=[scratch.std(), distilled.std()],
    fmt="none",
    ecolor="grey",
    capsize=3,
)
for label, (size, acc, marker) in {
    "teacher CNN": (n_teacher, teacher_acc, "s"),
    "student from scratch": (n_student, scratch.mean(), "o"),
    "distilled student": (n_student, distilled.mean(), "D"),
}.items():
    ax.scatter(size, acc, marker=marker, s=60, label=label, zorder=3)
ax.set_xscale("log")
ax.set_xlabel("parameters")
ax.set_ylabel("test accuracy (%)")
ax.set_title(f"digits as images, mean over {N_SEEDS} seed(s)")
ax.legend()
fig.tight_layout()
plt.show()
