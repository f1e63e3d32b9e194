"""Epoch time of the distillation loop against a hand-written torch loop.

Both train the same 2x64 MLP on the diamonds training set (43,152 rows, the
student's 26 encoded columns) with Adam, batch 256, on the same pre-built
tensors and the same loss, ``0.5 * MSE(s, y) + 0.5 * MSE(s, t)`` on
standardised targets. The hand loop is what a user would write without
skorch: ``randperm``, slice, forward, loss, backward, step. Epochs of the two
are interleaved (a few of ours, a few of theirs, repeated) so that noise from
other processes on this shared machine hits both alike; the report gives the
medians and their ratio. Torch runs on one thread.

Run ``python benchmarks/bench_loop.py`` (about a minute); ``--quick`` for a
smoke run. Writes ``benchmarks/results/loop.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS_DIR, load_diamonds

from sklearn_kd import DistilledRegressor
from sklearn_kd._preprocessing import TabularEncoder
from sklearn_kd.students import MLP

RESULTS = RESULTS_DIR


def diamonds_training_set():
    frame, y = load_diamonds()
    X_train, _, y_train, _ = train_test_split(frame, y, test_size=0.2, random_state=0)
    return X_train, y_train


def hand_epochs(X, y, t, n_epochs, seed):
    """Per-epoch seconds of a plain torch loop doing the distiller's work."""
    torch.manual_seed(seed)
    model = MLP(in_features=X.shape[1], out_features=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(n_epochs):
        start = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), 256):
            rows = order[i : i + 256]
            xb, yb, tb = X[rows], y[rows], t[rows]
            optimizer.zero_grad()
            out = model(xb)
            loss = 0.5 * ((out - yb) ** 2).mean() + 0.5 * ((out - tb) ** 2).mean()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 epochs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rounds, epochs = (2, 2) if args.quick else (5, 4)

    X_frame, y = diamonds_training_set()
    # Any fixed teacher output will do: the loop's cost does not depend on it.
    teacher_pred = y + np.random.default_rng(0).normal(scale=0.05, size=len(y))

    def teacher(X):
        return teacher_pred[: len(X)]

    encoder = TabularEncoder().fit(X_frame)
    X = torch.from_numpy(encoder.transform(X_frame))
    mean, std = y.mean(), y.std()
    y_t = torch.tensor((y - mean) / std, dtype=torch.float32)[:, None]
    t_t = torch.tensor((teacher_pred - mean) / std, dtype=torch.float32)[:, None]

    ours, hand = [], []
    for r in range(rounds):
        model = DistilledRegressor(
            teacher, max_epochs=epochs, batch_size=256, lr=1e-3, random_state=r
        ).fit(X_frame, y)
        ours.extend(model.history_[:, "dur"])
        hand.extend(hand_epochs(X, y_t, t_t, epochs, seed=r))

    result = {
        "rows": len(y),
        "batch_size": 256,
        "epochs_each": len(ours),
        "distiller_epoch_s_median": float(np.median(ours)),
        "hand_loop_epoch_s_median": float(np.median(hand)),
        "ratio": float(np.median(ours) / np.median(hand)),
        "torch_threads": 1,
        "quick": args.quick,
    }
    print(json.dumps(result, indent=2))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "loop.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
