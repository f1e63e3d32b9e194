"""Deployment size and latency: a forest teacher against its student in every format.

On diamonds (log price; a random forest behind an OrdinalEncoder for the string
columns cut, color and clarity) and digits (10 classes; a random forest), one
run measures side by side, on the same held-out rows:

- the teacher, as it would be deployed (its whole Pipeline, one thread);
- the deployed student (``to_deployable()``: encoder and network in Python);
- the student exported by ``export_onnx`` and run by ONNX Runtime through
  ``load_onnx`` (raw DataFrame or array in), and the bare
  ``InferenceSession.run`` on inputs encoded beforehand (what the loader's
  Python encoding costs is the difference);
- the student exported by ``export_torchscript``, through ``load_torchscript``;
- the forest compiled by hummingbird-ml to torch (and to ONNX, where that
  works with the installed torch), behind the teacher's own encoder.

For each: test score, fidelity to the teacher, serialised size (pickle, or
the exported file), and the median latency of ``predict`` on 1 row and on
1,000 rows, with ratios against the teacher. Every model predicts on one
thread (torch, ONNX Runtime, OpenMP and BLAS).

Run ``python benchmarks/bench_deploy.py`` (about 10 minutes on 2 cores; most
of it fitting the 300-tree diamonds forest and compiling it with hummingbird)
or ``--quick`` (a smoke run on subsamples, not for reading; writes nothing
unless ``--out`` is given). Writes ``benchmarks/results/deploy.json`` and
``deploy.md``.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning (see benchmarks/run.py); set
# before numpy, scikit-learn and torch load their runtimes.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import (
    RESULTS_DIR,
    CompiledForest,
    budget_epochs,
    environment,
    median_ms,
    onnx_options,
    package_versions,
    pickled_bytes,
    score,
    take,
    without_flags,
    write_json,
)

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.export import (
    export_onnx,
    export_torchscript,
    load_onnx,
    load_torchscript,
)

RESULTS = RESULTS_DIR

SETTINGS = {
    "full": {
        "trees": 300,
        "max_rows": None,
        "epochs": None,  # run.py's budget: about 4,000 optimizer steps
        "repeats_one_row": 200,
        "repeats_batch": 15,
        "budget_s": 2.0,
    },
    "quick": {
        "trees": 20,
        "max_rows": 3000,
        "epochs": 3,
        "repeats_one_row": 20,
        "repeats_batch": 5,
        "budget_s": 0.2,
    },
}

MODELS = {
    "teacher": "teacher (scikit-learn)",
    "student": "student, to_deployable()",
    "onnx": "student, ONNX via load_onnx",
    "onnx_bare": "student, ONNX session.run on encoded input",
    "torchscript": "student, TorchScript via load_torchscript",
    "hummingbird_torch": "forest via hummingbird (torch)",
    "hummingbird_onnx": "forest via hummingbird (onnx)",
}


# ----------------------------------------------------------------------------
# Data and models
# ----------------------------------------------------------------------------


DATASETS = {name: _common.DATASETS[name] for name in ("diamonds", "digits")}


def make_teacher(task, X, trees):
    """The forest of run.py, behind an OrdinalEncoder when X has string columns
    (the encoder's default for unseen categories, as measured)."""
    return _common.make_teacher("forest", task, X, trees, 0, encode_unknown=False)


def epochs_for(n_train, setting):
    """run.py's student budget: about 4,000 steps of 256 rows, 20 to 100 epochs."""
    if setting["epochs"] is not None:
        return setting["epochs"]
    return budget_epochs(n_train)


def probe_hummingbird_onnx(task, X_train, y_train):
    """None if hummingbird's ONNX backend converts a 5-tree forest, else why not.

    Compiling the real forest takes minutes; a failure shows on a small one.
    """
    small = make_teacher(task, X_train, 5).fit(take(X_train, 500), y_train[:500])
    try:
        CompiledForest(small, "onnx", take(X_train, 100))
    except Exception as err:  # any failure: record it, time nothing
        cause = err.__cause__ or err
        lines = [line for line in str(cause).splitlines() if line.strip()]
        return f"{type(err).__name__}: {type(cause).__name__}: {lines[0][:300]}"
    return None


def warm_up():
    """One tiny distillation, export and prediction, so that one-time start-up
    costs (torch's first operations, the ONNX exporter's imports) are not
    charged to the first model measured."""
    X = np.random.default_rng(0).normal(size=(64, 4))
    model = DistilledRegressor(lambda X: X[:, 0], max_epochs=1, random_state=0)
    model.fit(X, X[:, 0]).predict(X)
    with tempfile.TemporaryDirectory() as tmp:
        load_onnx(export_onnx(model, Path(tmp) / "w.onnx")).predict(X)


def run_dataset(name, setting, use_hummingbird, clock, workdir):
    task, load = DATASETS[name]
    X, y = load()
    if setting["max_rows"] is not None and len(y) > setting["max_rows"]:
        keep = np.random.default_rng(0).permutation(len(y))[: setting["max_rows"]]
        X, y = take(X, keep), y[keep]
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=0.2,
        random_state=0,
        stratify=None if task == "regression" else y,
    )
    one, batch = take(X_test, 1), take(X_test, 1000)
    Distiller = DistilledRegressor if task == "regression" else DistilledClassifier

    teacher = clock(
        name,
        "fit teacher",
        lambda: make_teacher(task, X, setting["trees"]).fit(X_train, y_train),
    )
    epochs = epochs_for(len(y_train), setting)
    distiller = clock(
        name,
        "distil student",
        lambda: Distiller(teacher, max_epochs=epochs, random_state=0).fit(
            X_train, y_train
        ),
    )
    # Latency and scores on one thread, as one request of a server would run.
    forest = teacher[-1] if isinstance(teacher, Pipeline) else teacher
    forest.set_params(n_jobs=1)
    deployed = distiller.to_deployable()

    tmp = Path(workdir)
    onnx_path = clock(
        name, "export_onnx", lambda: export_onnx(deployed, tmp / "student.onnx")
    )
    ts_path = clock(
        name,
        "export_torchscript",
        lambda: export_torchscript(deployed, tmp / "student.pt"),
    )
    onnx_student = load_onnx(onnx_path, session_options=onnx_options())
    ts_student = load_torchscript(ts_path)
    session = onnx_student.session

    def bare_predict(inputs):
        out = session.run(None, inputs)
        if task == "regression":
            return out[0][:, 0]
        return onnx_student.classes_[out[1]]

    # name -> (prepare(X), predict(prepared), size in bytes, what the size is)
    models = {
        "teacher": (None, teacher.predict, pickled_bytes(teacher), "pickle"),
        "student": (None, deployed.predict, pickled_bytes(deployed), "pickle"),
        "onnx": (None, onnx_student.predict, onnx_path.stat().st_size, "ONNX file"),
        "onnx_bare": (
            onnx_student.to_graph_inputs,
            bare_predict,
            onnx_path.stat().st_size,
            "ONNX file",
        ),
        "torchscript": (
            None,
            ts_student.predict,
            ts_path.stat().st_size,
            "TorchScript file",
        ),
    }
    failures = {}
    if use_hummingbird:
        for backend in ("torch", "onnx"):
            key = f"hummingbird_{backend}"
            why = (
                probe_hummingbird_onnx(task, X_train, y_train)
                if backend == "onnx"
                else None
            )
            if why is not None:
                failures[key] = why
                print(f"  {name}: {key} skipped: {why}", flush=True)
                continue
            try:
                compiled = clock(
                    name,
                    f"compile forest ({backend})",
                    lambda b=backend: CompiledForest(teacher, b, take(X_train, 1000)),
                )
            except Exception as err:  # record why, time nothing
                failures[key] = (
                    f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
                )
                print(f"  {name}: {key} failed: {failures[key]}", flush=True)
                continue
            models[key] = (None, compiled.predict, pickled_bytes(compiled), "pickle")

    rows = []
    teacher_test = teacher.predict(X_test)
    student_test = deployed.predict(X_test)
    with threadpool_limits(limits=1):
        for key, (prepare, predict, size, size_of) in models.items():
            prepare = prepare or (lambda X: X)
            start = time.perf_counter()
            pred = predict(prepare(X_test))
            test_s = time.perf_counter() - start
            row = {
                "data": name,
                "model": key,
                "score": score(task, y_test, pred),
                "fidelity": score(task, teacher_test, pred),
                "size_bytes": int(size),
                "size_of": size_of,
                "latency_1_ms": median_ms(
                    functools.partial(predict, prepare(one)),
                    setting["repeats_one_row"],
                    setting["budget_s"],
                ),
                "latency_1000_ms": median_ms(
                    functools.partial(predict, prepare(batch)),
                    setting["repeats_batch"],
                    setting["budget_s"],
                ),
                "test_set_predict_s": test_s,
            }
            if key in ("onnx", "onnx_bare", "torchscript"):
                if task == "regression":
                    row["max_abs_diff_vs_student"] = float(
                        np.abs(pred - student_test).max()
                    )
                else:
                    row["label_agreement_vs_student"] = float(
                        np.mean(pred == student_test)
                    )
            rows.append(row)
            print(f"  {name}: {json.dumps(row)}", flush=True)
    base = rows[0]
    for row in rows:
        row["speedup_1"] = base["latency_1_ms"] / row["latency_1_ms"]
        row["speedup_1000"] = base["latency_1000_ms"] / row["latency_1000_ms"]
        row["size_ratio"] = base["size_bytes"] / row["size_bytes"]
    info = {
        "task": task,
        "train_rows": len(y_train),
        "test_rows": len(y_test),
        "features": int(X.shape[1]),
        "teacher": f"{type(forest).__name__}(n_estimators={setting['trees']})"
        + (" behind an OrdinalEncoder" if isinstance(teacher, Pipeline) else ""),
        "student": f"{Distiller.__name__} defaults (2x64 MLP), max_epochs={epochs}",
        "graph_inputs": {i.name: i.shape for i in session.get_inputs()},
    }
    return rows, info, failures


class Clock:
    """Times and records each part of the run."""

    def __init__(self):
        self.parts = []

    def __call__(self, data, part, func):
        start = time.perf_counter()
        out = func()
        seconds = time.perf_counter() - start
        self.parts.append({"data": data, "part": part, "seconds": seconds})
        print(f"  {data}: {part} {seconds:.1f} s", flush=True)
        return out


def versions():
    return package_versions(
        ("onnx", "onnxruntime", "onnxscript", "hummingbird-ml", "threadpoolctl")
    )


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def _size(n):
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:,.1f} kB"


def _ms(v):
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def _ratio(v):
    return f"{v:,.0f}x" if v >= 10 else f"{v:.2g}x"


def markdown(result):
    env = result["environment"]
    lines = [
        f"# sklearn_kd deployment benchmark: `{result['setting_name']}`",
        "",
        f"{env['when']}, {env['machine']}; torch {env['torch']}, onnxruntime "
        f"{result['versions']['onnxruntime']} (1 intra-op thread), scikit-learn "
        f"{env['scikit-learn']}; wall time {result['wall_s'] / 60:.1f} min. "
        f"Regenerate with `{result['command']}`. Columns: `benchmarks/README.md`.",
        "",
        "| data set | task | train / test rows | teacher | student |",
        "|---|---|---|---|---|",
    ]
    for name, info in result["datasets"].items():
        lines.append(
            f"| {name} | {info['task']} | {info['train_rows']:,} / {info['test_rows']:,} "
            f"| {info['teacher']} | {info['student']} |"
        )
    lines += [
        "",
        "| data set | model | score | fidelity | vs student | size | 1 row ms | 1k rows ms | 1 row speed-up | 1k rows speed-up | smaller by |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "max_abs_diff_vs_student" in r:
            versus = f"max diff {r['max_abs_diff_vs_student']:.1e}"
        elif "label_agreement_vs_student" in r:
            versus = f"{r['label_agreement_vs_student']:.1%} same labels"
        else:
            versus = ""
        lines.append(
            f"| {r['data']} | {MODELS[r['model']]} | {r['score']:.4f} | {r['fidelity']:.4f} | {versus} "
            f"| {_size(r['size_bytes'])} | {_ms(r['latency_1_ms'])} | {_ms(r['latency_1000_ms'])} "
            f"| {_ratio(r['speedup_1'])} | {_ratio(r['speedup_1000'])} | {_ratio(r['size_ratio'])} |"
        )
    lines += [
        "",
        "Score: test R² (diamonds, log price) or accuracy (digits). Fidelity: the "
        "same metric against the teacher's predictions. vs student: the exported "
        "float32 graph against the float64 student on the test set (largest "
        "absolute difference of the predictions, or share of identical labels). "
        "Size: pickle (highest protocol) of what serving needs, or the exported "
        "file. Speed-ups and `smaller by`: teacher / model.",
    ]
    if result["failures"]:
        lines += ["", "Not measured:", ""]
        for key, why in result["failures"].items():
            lines.append(f"- {key}: {why}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on subsamples")
    parser.add_argument(
        "--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS)
    )
    parser.add_argument(
        "--trees", type=int, help="forest size (default: 300, quick 20)"
    )
    parser.add_argument(
        "--no-hummingbird", action="store_true", help="skip hummingbird-ml"
    )
    parser.add_argument(
        "--out", type=Path, help="where to write deploy.json and deploy.md"
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="fit nothing: rewrite the table of a saved deploy.json next to it",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        result = json.loads(args.report.read_text())
        table = markdown(result)
        args.report.with_suffix(".md").write_text(table)
        print(table)
        return result
    setting = dict(SETTINGS["quick" if args.quick else "full"])
    if args.trees is not None:
        setting["trees"] = args.trees
    # One thread everywhere: the student is too small to gain from more, and
    # latency is that of one request on one core.
    torch.set_num_threads(1)
    use_hummingbird = not args.no_hummingbird
    if use_hummingbird:
        try:
            import hummingbird.ml  # noqa: F401
        except ImportError as err:
            print(f"hummingbird-ml not used: {err}", flush=True)
            use_hummingbird = False
    started = time.perf_counter()
    warm_up()
    clock = Clock()
    rows, datasets, failures = [], {}, {}
    for name in args.datasets:
        print(f"{name}:", flush=True)
        with tempfile.TemporaryDirectory() as workdir:
            data_rows, datasets[name], data_failures = run_dataset(
                name, setting, use_hummingbird, clock, workdir
            )
        rows += data_rows
        failures.update({f"{name} {k}": v for k, v in data_failures.items()})
    command = "python benchmarks/bench_deploy.py " + " ".join(
        without_flags(sys.argv[1:] if argv is None else argv)
    )
    result = {
        "setting_name": "quick" if args.quick else "full",
        "setting": setting,
        "command": command.strip(),
        "wall_s": time.perf_counter() - started,
        "environment": environment("sklearn_kd", "torch", "scikit-learn", "numpy"),
        "versions": versions(),
        "datasets": datasets,
        "timings": clock.parts,
        "failures": failures,
        "rows": rows,
    }
    table = markdown(result)
    print(table)
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "deploy.json", result)
        (out / "deploy.md").write_text(table)
    return result


if __name__ == "__main__":
    main()
