"""Serving speed: what one predict call costs against the bare network (issue 14).

On diamonds (log price; 6 numeric and 3 string columns; a random forest behind
an OrdinalEncoder is the teacher) and on Friedman #1 with 20 features (all
numeric, generated), one run measures side by side, on one thread:

- the bare forward of the distiller's float64 inference module
  (``model._inference_module_``) on a ready tensor of the student's input;
- the bare forward of a plain float32 2x64 torch MLP
  (``Linear(d, 64), ReLU, Linear(64, 64), ReLU, Linear(64, 1)``, eval) of the
  same input width ``d``, the reference of the issue's targets;
- ``predict`` of the distiller on a DataFrame (strings included), of
  ``to_deployable()``, of ``load_onnx`` and ``load_torchscript`` students, and
  the bare ``InferenceSession.run`` on graph inputs encoded beforehand;
- the teachers (the random forest and HistGradientBoosting, scikit-learn);

each on 1 row and on 10,000 rows, and ``predict`` on 1,000,000 x 20 numeric
rows (Friedman #1), its time and its peak memory over the input, each bulk
measurement in a fresh child process.

Latencies are medians of many calls, timed in rounds that interleave all the
calls of a table (so a change of load on the shared machine touches them
alike). Both bare forwards run inside one ``torch.inference_mode()`` entered
outside the timed calls, as in ``benchmarks/run.py``: the network's own cost.

Data and teachers are ``benchmarks/run.py``'s, from ``benchmarks/_common.py``
(``load_diamonds``, ``make_teacher``). The students are trained briefly
(``max_epochs=20``, default student): accuracy does not matter here.

Run ``python benchmarks/bench_serving.py`` (about 5 minutes on 2 cores,
longer when others use them; writes ``benchmarks/results/serving.json`` and
``serving.md``, and compares with the figures it overwrites), or ``--quick``
(a smoke run on tiny sizes, under a minute; writes nothing unless ``--out`` is
given). ``--baseline FILE`` compares with another saved ``serving.json``;
``--no-bulk`` skips the 1,000,000-row children; ``--report FILE`` measures
nothing and rewrites the verdicts and table of a saved ``serving.json``.

The header names the commit the imported ``sklearn_kd`` matches (or how many
of its files differ). To measure an earlier commit's code, export it and put
it first on the path: ``git archive COMMIT sklearn_kd | tar -x -C DIR``, then
``PYTHONPATH=DIR python benchmarks/bench_serving.py``.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    # Idle OpenMP threads sleep instead of spinning (see benchmarks/run.py);
    # set before numpy, scikit-learn and torch load their runtimes.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import gc
import json
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS_DIR,
    load_diamonds,
    make_teacher,
    onnx_options,
    package_versions,
    string_columns,
    without_flags,
)

from sklearn_kd import DistilledRegressor
from sklearn_kd.export import (
    export_onnx,
    export_torchscript,
    load_onnx,
    load_torchscript,
)

HERE = Path(__file__).resolve().parent
RESULTS = RESULTS_DIR

SETTINGS = {
    "full": {
        "trees": 200,  # diamonds forest
        "friedman_trees": 100,
        "max_rows": None,
        "friedman_rows": 20_000,
        "epochs": 20,
        "batch_rows": 10_000,
        "bulk_rows": 1_000_000,
        "bulk_repeats": 4,
        # Interleaved rounds; each call is timed up to `calls` times per round
        # or for `budget_s` seconds per round, whichever comes first (at least
        # once per round).
        "rounds_one_row": 5,
        "rounds_batch": 10,
        "calls_one_row": 400,
        "calls_batch": 5,
        "budget_s_one_row": 0.25,
        "budget_s_batch": 0.25,
    },
    "quick": {
        "trees": 10,
        "friedman_trees": 10,
        "max_rows": 2_000,
        "friedman_rows": 2_000,
        "epochs": 2,
        "batch_rows": 300,
        "bulk_rows": 20_000,
        "bulk_repeats": 2,
        "rounds_one_row": 2,
        "rounds_batch": 2,
        "calls_one_row": 20,
        "calls_batch": 3,
        "budget_s_one_row": 0.02,
        "budget_s_batch": 0.05,
    },
}

FRIEDMAN_FEATURES = 20

# Targets of issue 14 (milliseconds and ratios).
ONE_ROW_MS = 0.1
ONE_ROW_OVER_PLAIN = 4.0
ONNX_OVER_SESSION_NUMERIC = 2.0
ONNX_OVER_SESSION_STRINGS = 3.0
BATCH_MS = 5.0
BULK_MEMORY_OVER_INPUT = 2.0
#: "Time not worse" than the figures being overwritten, within this noise.
BULK_TIME_TOLERANCE = 1.10


# ----------------------------------------------------------------------------
# Data and models
# ----------------------------------------------------------------------------


def friedman_columns():
    return [f"x{j}" for j in range(FRIEDMAN_FEATURES)]


def friedman_frame(rows, seed):
    X, y = make_friedman1(
        n_samples=rows, n_features=FRIEDMAN_FEATURES, noise=1.0, random_state=seed
    )
    return pd.DataFrame(X, columns=friedman_columns()), y


def load_data(name, setting):
    """(X_train, y_train, serving rows): DataFrames; serving rows are held out."""
    if name == "diamonds":
        X, y = load_diamonds()
        if setting["max_rows"] is not None and len(y) > setting["max_rows"]:
            keep = np.random.default_rng(0).permutation(len(y))[: setting["max_rows"]]
            X, y = X.iloc[keep].reset_index(drop=True), y[keep]
        X_train, X_test, y_train, _ = train_test_split(
            X, y, test_size=0.2, random_state=0
        )
        return X_train, y_train, X_test.reset_index(drop=True)
    X_train, y_train = friedman_frame(setting["friedman_rows"], seed=0)
    X_serve, _ = friedman_frame(max(setting["batch_rows"], 1), seed=1)
    return X_train, y_train, X_serve


def plain_mlp(width, outputs=1):
    """The issue's reference: a plain float32 2x64 MLP, eval mode."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(width, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, outputs),
    ).eval()


def bare_forward(module, x):
    """``module(x)`` inside one inference mode entered outside the timed calls."""

    def call():
        return module(x)

    return call


# ----------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------


def interleaved_ms(calls, rounds, per_round, budget_s):
    """Median milliseconds of each of ``calls`` (name -> callable).

    Every callable is called once to warm up, then the calls are timed in
    ``rounds`` rounds, each timing every callable up to ``per_round`` times or
    for ``budget_s`` seconds (at least once). Returns name -> (median ms, n).
    """
    for func in calls.values():
        func()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, func in calls.items():
            gc.collect()
            deadline = time.perf_counter() + budget_s
            n = 0
            while n < per_round and (n == 0 or time.perf_counter() < deadline):
                start = time.perf_counter()
                func()
                times[name].append(time.perf_counter() - start)
                n += 1
    return {
        name: (1e3 * float(np.median(values)), len(values))
        for name, values in times.items()
    }


# ----------------------------------------------------------------------------
# One data set
# ----------------------------------------------------------------------------


def run_dataset(name, setting, workdir, log):
    started = time.perf_counter()
    X_train, y_train, X_serve = load_data(name, setting)
    strings = string_columns(X_train)
    n_batch = min(setting["batch_rows"], len(X_serve))
    one, batch = X_serve.iloc[[0]], X_serve.iloc[:n_batch]

    trees = setting["trees" if name == "diamonds" else "friedman_trees"]
    teachers = {}
    for kind in ("forest", "hgb"):
        t0 = time.perf_counter()
        teachers[kind] = make_teacher(kind, "regression", X_train, trees, 0).fit(
            X_train, y_train
        )
        log(f"{name}: fit {kind} teacher {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    model = DistilledRegressor(
        teachers["forest"], max_epochs=setting["epochs"], random_state=0
    ).fit(X_train, y_train)
    log(f"{name}: distil student {time.perf_counter() - t0:.1f} s")
    # One thread when serving, as one request of a server would run.
    for teacher in teachers.values():
        forest = teacher[-1] if isinstance(teacher, Pipeline) else teacher
        if "n_jobs" in forest.get_params():
            forest.set_params(n_jobs=1)

    deployed = model.to_deployable()
    onnx_path = export_onnx(deployed, Path(workdir) / f"{name}.onnx")
    ts_path = export_torchscript(deployed, Path(workdir) / f"{name}.pt")
    onnx_student = load_onnx(onnx_path, session_options=onnx_options())
    ts_student = load_torchscript(ts_path)
    session = onnx_student.session

    module = model._inference_module_
    xs_one, xs_batch = model._student_matrix(one), model._student_matrix(batch)
    width = int(xs_one.shape[1])
    mlp = plain_mlp(width)
    g_one, g_batch = (
        onnx_student.to_graph_inputs(one),
        onnx_student.to_graph_inputs(batch),
    )

    # Same answers before timing anything (float32 graphs: to 1e-3).
    ref = model.predict(batch)
    for label, pred in (
        ("to_deployable", deployed.predict(batch)),
        ("load_onnx", onnx_student.predict(batch)),
        ("load_torchscript", ts_student.predict(batch)),
    ):
        if not np.allclose(pred, ref, atol=1e-3):
            raise AssertionError(f"{name}: {label} predicts otherwise than predict")

    rows = {}
    with threadpool_limits(limits=1), torch.inference_mode():
        for size, X, xs, g, tag in (
            (1, one, xs_one, g_one, "one_row"),
            (n_batch, batch, xs_batch, g_batch, "batch"),
        ):
            x64 = torch.from_numpy(xs).to(torch.float64)
            x32 = torch.from_numpy(xs).to(torch.float32)
            calls = {
                "module_forward": bare_forward(module, x64),
                "plain_forward": bare_forward(mlp, x32),
                "predict": lambda X=X: model.predict(X),
                "deployable": lambda X=X: deployed.predict(X),
                "onnx": lambda X=X: onnx_student.predict(X),
                "session_run": lambda g=g: session.run(None, g),
                "torchscript": lambda X=X: ts_student.predict(X),
                "forest": lambda X=X: teachers["forest"].predict(X),
                "hgb": lambda X=X: teachers["hgb"].predict(X),
            }
            # inference_mode is on: the predict paths enter it again, as they
            # would in a server that does not (the cost is the same).
            measured = interleaved_ms(
                calls,
                setting[f"rounds_{tag}"],
                setting[f"calls_{tag}"],
                setting[f"budget_s_{tag}"],
            )
            for key, (ms, n) in measured.items():
                rows[key, size] = {
                    "key": key,
                    "rows": size,
                    "median_ms": ms,
                    "calls": n,
                }
            log(
                f"{name}: {size} row(s): "
                + ", ".join(f"{k} {v[0]:.4g} ms" for k, v in measured.items())
            )
    info = {
        "train_rows": len(y_train),
        "columns": int(X_train.shape[1]),
        "string_columns": strings,
        "student_input_width": width,
        "teachers": {
            "forest": f"RandomForestRegressor(n_estimators={trees})",
            "hgb": "HistGradientBoostingRegressor()",
            "behind": "OrdinalEncoder (ColumnTransformer, Pipeline)"
            if strings
            else None,
        },
        "student": f"DistilledRegressor defaults (2x64 MLP), max_epochs={setting['epochs']}",
        "graph_inputs": {i.name: i.shape for i in session.get_inputs()},
        "setup_s": time.perf_counter() - started,
    }
    return info, list(rows.values()), model


def ratios(rows, numeric_only):
    """Add ratios to the bare forwards and session.run, targets and verdicts."""
    by = {(r["key"], r["rows"]): r for r in rows}
    for r in rows:
        size = r["rows"]
        r["over_plain_forward"] = (
            r["median_ms"] / by["plain_forward", size]["median_ms"]
        )
        r["over_module_forward"] = (
            r["median_ms"] / by["module_forward", size]["median_ms"]
        )
        r["over_session_run"] = r["median_ms"] / by["session_run", size]["median_ms"]
        target, met = None, None
        if size == 1 and r["key"] in ("predict", "deployable"):
            target = f"<= {ONE_ROW_MS} ms and <= {ONE_ROW_OVER_PLAIN:g}x plain forward"
            met = (
                r["median_ms"] <= ONE_ROW_MS
                and r["over_plain_forward"] <= ONE_ROW_OVER_PLAIN
            )
        elif size == 1 and r["key"] == "onnx":
            limit = (
                ONNX_OVER_SESSION_NUMERIC if numeric_only else ONNX_OVER_SESSION_STRINGS
            )
            target = f"<= {limit:g}x session.run" + (
                " (numeric only)" if numeric_only else " (with strings)"
            )
            met = r["over_session_run"] <= limit
        elif size > 1 and r["key"] == "predict":
            target = f"<= {BATCH_MS:g} ms"
            met = r["median_ms"] <= BATCH_MS
        r["target"], r["met"] = target, met


# ----------------------------------------------------------------------------
# Bulk: 1,000,000 x 20 rows, each measurement in a fresh process
# ----------------------------------------------------------------------------


def _proc_status():
    """VmRSS and VmHWM of this process in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            found = {
                line.split(":")[0]: int(line.split()[1]) * 1024
                for line in f
                if line.startswith(("VmRSS:", "VmHWM:"))
            }
        return found["VmRSS"], found["VmHWM"]
    except (OSError, KeyError, ValueError):
        return None


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _trim():
    """Give freed heap memory back to the OS (glibc), so that RSS counts live
    memory only; False where not available."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) or True)
    except (OSError, AttributeError):
        return False


def child_bulk(spec):
    """One bulk measurement, in a fresh process: printed as JSON."""
    import tracemalloc

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    with open(spec["model"], "rb") as f:
        model = pickle.load(f)
    rng = np.random.default_rng(0)
    X = rng.random((spec["rows"], FRIEDMAN_FEATURES))
    if spec["input"] == "frame":
        X = pd.DataFrame(X, columns=friedman_columns())
        input_bytes = int(X.memory_usage(index=False).sum())
    else:
        input_bytes = int(X.nbytes)
    module = model._inference_module_
    with threadpool_limits(limits=1):
        model.predict(X[:10] if spec["input"] == "array" else X.iloc[:10])  # warm
        gc.collect()
        trimmed = _trim()
        before = _proc_status()
        reset = _reset_peak()
        start = time.perf_counter()
        model.predict(X)
        first_s = time.perf_counter() - start
        after = _proc_status()
        times = [first_s]
        repeat_extra = None
        if spec["forward"]:
            # The floor: the float64 module on ready chunks, no encoding of X.
            xs = model._student_matrix(X)
            chunks = [
                torch.from_numpy(xs[i : i + 8192]).to(torch.float64)
                for i in range(0, len(xs), 8192)
            ]
            del xs

            def floor():
                with torch.inference_mode():
                    for c in chunks:
                        module(c)

        floor_times = []
        for i in range(spec["repeats"] - 1):
            if i == 0:
                gc.collect()
                _trim()
                again = _proc_status()
                _reset_peak()
            start = time.perf_counter()
            model.predict(X)
            times.append(time.perf_counter() - start)
            if i == 0 and again and reset:
                repeat_extra = _proc_status()[1] - again[0]
            if spec["forward"]:
                # Alternating with predict: the same load on the machine.
                start = time.perf_counter()
                floor()
                floor_times.append(time.perf_counter() - start)
        # numpy/Python allocations only (torch's allocator is not traced).
        tracemalloc.start()
        model.predict(X)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    out = {
        "input_bytes": input_bytes,
        "rss_before": before and before[0],
        "peak_reset": reset,
        "peak_rss": after and after[1],
        "rss_after": after and after[0],
        "first_s": first_s,
        "median_s": float(np.median(times)),
        "times_s": times,
        "tracemalloc_peak": traced_peak,
        # The same on the second call (allocator warm): steady state.
        "extra_bytes_second_call": repeat_extra,
        "chunked_module_forward_s": float(np.median(floor_times))
        if floor_times
        else None,
        "malloc_trim": trimmed,
    }
    if before and after:
        # Without a reset, the high-water mark may predate the call: an upper bound.
        out["extra_bytes"] = after[1] - (before[0] if reset else min(before))
    print("BULK " + json.dumps(out), flush=True)


def bulk_ratios(b):
    """Ratios and the memory verdict of one bulk measurement.

    The memory target is judged on the larger extra peak of the first and the
    second call (the allocator can serve one of them from memory it holds).
    """
    if b.get("chunked_module_forward_s"):
        # Against the bare module timed alternately in the same process.
        b["over_floor"] = b["median_s"] / b["chunked_module_forward_s"]
    extras = [
        v
        for v in (b.get("extra_bytes"), b.get("extra_bytes_second_call"))
        if v is not None
    ]
    if extras:
        b["extra_over_input"] = max(extras) / b["input_bytes"]
        b["memory_met"] = b["extra_over_input"] <= BULK_MEMORY_OVER_INPUT


BULK_CALLS = {
    "predict_array": ("array", "array", "distiller", True),
    "predict_frame": ("frame", "frame", "distiller", True),
    "deployable_array": ("deployable", "array", "deployable", True),
}
BULK_LABELS = {
    "predict_array": "`predict`, ndarray (student fitted on an ndarray, HGB teacher)",
    "predict_frame": "`predict`, DataFrame (student fitted on a DataFrame, forest teacher)",
    "deployable_array": "`to_deployable().predict`, ndarray (the ndarray student, unpickled alone)",
}


def run_bulk(setting, models, workdir, log):
    """Each bulk call in a fresh child process; models: fitted-on -> distiller."""
    paths = {}
    models = {**models, "deployable": models["array"].to_deployable()}
    for fitted_on, model in models.items():
        paths[fitted_on] = Path(workdir) / f"bulk_{fitted_on}.pkl"
        with open(paths[fitted_on], "wb") as f:
            pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    results = []
    for key, (fitted_on, given, kind, forward) in BULK_CALLS.items():
        spec = {
            "model": str(paths[fitted_on]),
            "input": given,
            "kind": kind,
            "rows": setting["bulk_rows"],
            "repeats": setting["bulk_repeats"],
            "forward": forward,
        }
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child-bulk",
                json.dumps(spec),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        line = [x for x in proc.stdout.splitlines() if x.startswith("BULK ")]
        if proc.returncode != 0 or not line:
            raise RuntimeError(f"bulk child {key} failed:\n{proc.stderr[-3000:]}")
        out = json.loads(line[-1][5:])
        out.update(key=key, rows=setting["bulk_rows"], columns=FRIEDMAN_FEATURES)
        bulk_ratios(out)
        results.append(out)
        log(
            f"bulk {key}: {out['median_s']:.3f} s, extra "
            f"{out.get('extra_bytes', 0) / 1e6:.0f} MB over a "
            f"{out['input_bytes'] / 1e6:.0f} MB input"
        )
    return results


# ----------------------------------------------------------------------------
# Baseline (the figures being overwritten) and report
# ----------------------------------------------------------------------------


def compare(result, baseline):
    """Add the baseline's medians; judge the bulk time against them."""
    if baseline is None or baseline.get("setting_name") != result["setting_name"]:
        result["baseline"] = None
        for b in result["bulk"]:
            b["time_met"] = None
        return
    result["baseline"] = {
        "date": baseline.get("environment", {}).get("date"),
        "git": baseline.get("git"),
    }
    for name, data in result["datasets"].items():
        old = {
            (r["key"], r["rows"]): r["median_ms"]
            for r in baseline.get("datasets", {}).get(name, {}).get("rows", [])
        }
        for r in data["rows"]:
            r["before_ms"] = old.get((r["key"], r["rows"]))
    old_bulk = {b["key"]: b for b in baseline.get("bulk", [])}
    for b in result["bulk"]:
        prev = old_bulk.get(b["key"])
        if prev is None:
            b["time_met"] = None
            continue
        b["before_s"] = prev["median_s"]
        b["before_over_floor"] = prev.get("over_floor")
        b["before_extra_bytes"] = prev.get("extra_bytes")
        b["time_met"] = b["median_s"] <= prev["median_s"] * BULK_TIME_TOLERANCE


LABELS = {
    "module_forward": "bare forward, `_inference_module_` (float64, ready tensor)",
    "plain_forward": "bare forward, plain 2x64 MLP (float32, ready tensor)",
    "predict": "`predict`, DataFrame",
    "deployable": "`to_deployable().predict`",
    "onnx": "`load_onnx(...).predict`",
    "session_run": "bare `session.run` (graph inputs ready)",
    "torchscript": "`load_torchscript(...).predict`",
    "forest": "teacher: random forest (Pipeline)",
    "hgb": "teacher: HistGradientBoosting (Pipeline)",
}


def _ms(v):
    if v is None:
        return ""
    return f"{v:.4f}" if v < 0.1 else f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


def _mb(v):
    return "" if v is None else f"{v / 1e6:.0f}"


def _s(v):
    return "" if v is None else f"{v:.3f}"


def _x(v):
    return "" if v is None else f"{v:,.0f}x" if v >= 100 else f"{v:.3g}x"


def _met(v):
    return "" if v is None else "yes" if v else "**no**"


def markdown(result):
    env = result["environment"]
    base = result.get("baseline")
    lines = [
        f"# sklearn_kd serving benchmark: `{result['setting_name']}`",
        "",
        f"{env['date']}, {env['machine']}, {env['cpu_count']} CPU(s), Python "
        f"{env['python']}; torch {env['versions']['torch']}, scikit-learn "
        f"{env['versions']['scikit-learn']}, onnxruntime "
        f"{env['versions']['onnxruntime']}, pandas {env['versions']['pandas']}. "
        f"One thread everywhere ({result['threads']['summary']}); "
        f"{result['git']['summary']}. Wall time {result['wall_s'] / 60:.1f} min; "
        "load average (1 min) at start and end "
        f"{' and '.join(map(str, env['load_average_start_end']))} on this "
        "shared machine. "
        f"Regenerate with `{result['command']}`.",
        "",
        "Median of many calls, timed in interleaved rounds (the `calls` column "
        "counts them). `/ plain` is the ratio to the bare forward of a plain "
        "float32 2x64 MLP of the student's input width on a ready tensor, "
        "`/ module` to the bare forward of the distiller's float64 inference "
        "module, `/ session.run` to the bare ONNX Runtime call on graph inputs "
        "encoded beforehand; all measured in the same run on the same rows. "
        "Both bare forwards run inside one `torch.inference_mode()` entered "
        "outside the timed calls.",
    ]
    if base is not None:
        lines += [
            "",
            f"`before ms`: the figures this run overwrote ({base['date']}, "
            f"{(base.get('git') or {}).get('summary', '?')}).",
        ]
    for name, data in result["datasets"].items():
        info = data["info"]
        kind = "strings included" if info["string_columns"] else "all numeric"
        lines += [
            "",
            f"## {name}",
            "",
            f"{info['train_rows']:,} training rows, {info['columns']} columns "
            f"({kind}); student input width {info['student_input_width']}; "
            f"teachers {info['teachers']['forest']} and {info['teachers']['hgb']}"
            + (
                f" behind an {info['teachers']['behind']}"
                if info["teachers"]["behind"]
                else ""
            )
            + f"; student {info['student']}.",
            "",
            "| rows | call | median ms | calls | / plain | / module | / session.run |"
            + (" before ms |" if base is not None else "")
            + " target | met |",
            "|---|---|---|---|---|---|---|"
            + ("---|" if base is not None else "")
            + "---|---|",
        ]
        for r in data["rows"]:
            lines.append(
                f"| {r['rows']:,} | {LABELS[r['key']]} | {_ms(r['median_ms'])} | {r['calls']} "
                f"| {_x(r['over_plain_forward'])} | {_x(r['over_module_forward'])} "
                f"| {_x(r['over_session_run']) if r['key'] in ('onnx', 'session_run') else ''} |"
                + (f" {_ms(r.get('before_ms'))} |" if base is not None else "")
                + f" {r['target'] or '-'} | {_met(r['met'])} |"
            )
    bulk = result["bulk"]
    if bulk:
        b0 = bulk[0]
        lines += [
            "",
            f"## Bulk: {b0['rows']:,} x {b0['columns']} numeric rows (Friedman #1 student)",
            "",
            "Each line in a fresh child process that loads the pickled model, "
            "builds the input (uniform [0, 1), as Friedman #1), predicts 10 rows "
            "to warm up, returns freed heap to the OS (`malloc_trim`), resets the peak "
            "RSS (`/proc/self/clear_refs`) and predicts all rows. Extra memory: "
            "peak RSS (VmHWM) during that call minus RSS just before it, over "
            "the input's bytes; `2nd call`: the same on the next call. `extra / "
            "input` and the memory target take the larger of the two. `tracemalloc` sees numpy's allocations only "
            "(not torch's). Time: median of "
            f"{result['setting']['bulk_repeats']} call(s) in that process, the "
            "first included.",
            "",
            "| call | median s | / floor | input MB | extra peak MB "
            "| 2nd call extra MB | extra / input | tracemalloc peak MB |"
            + (" before s | before / floor |" if base is not None else "")
            + " memory target | met | time target | met |",
            "|---|---|---|---|---|---|---|---|"
            + ("---|---|" if base is not None else "")
            + "---|---|---|---|",
        ]
        for b in bulk:
            extra = b.get("extra_bytes")
            lines.append(
                f"| {BULK_LABELS[b['key']]} | {b['median_s']:.3f} "
                f"| {_x(b.get('over_floor'))} | {b['input_bytes'] / 1e6:.0f} "
                f"| {_mb(extra)} | {_mb(b.get('extra_bytes_second_call'))} "
                f"| {_x(b.get('extra_over_input'))} "
                f"| {b['tracemalloc_peak'] / 1e6:.0f} |"
                + (
                    f" {_s(b.get('before_s'))} | {_x(b.get('before_over_floor'))} |"
                    if base is not None
                    else ""
                )
                + f" <= {BULK_MEMORY_OVER_INPUT:g}x input | {_met(b.get('memory_met'))} "
                f"| not worse than before (<= {BULK_TIME_TOLERANCE:.2f}x) "
                f"| {_met(b.get('time_met')) or 'n/a (no earlier run)'} |"
            )
        lines += [
            "",
            "`/ floor`: the median over the bare float64 inference module on "
            "ready chunks of 8,192 rows (no encoding of X), timed alternately "
            "with `predict` in the same child: a yardstick that a busier machine "
            "slows too. The time target compares the plain medians with the "
            "figures this run overwrites. On a busy shared machine both move "
            "with the load: read the time verdict with the load average above.",
        ]
    lines += ["", "Targets (issue 14): " + result["verdict"]]
    return "\n".join(lines) + "\n"


def verdict(result):
    met, missed = [], []
    for name, data in result["datasets"].items():
        for r in data["rows"]:
            if r["met"] is None:
                continue
            label = f"{name} {r['rows']:,} row(s) {r['key']}"
            (met if r["met"] else missed).append(label)
    for b in result["bulk"]:
        if b.get("memory_met") is not None:
            (met if b["memory_met"] else missed).append(f"bulk {b['key']} memory")
        if b.get("time_met") is not None:
            (met if b["time_met"] else missed).append(f"bulk {b['key']} time")
    return (
        f"{len(met)} met, {len(missed)} missed"
        + (f" (missed: {', '.join(missed)})" if missed else "")
        + "."
    )


# ----------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------


def versions():
    return package_versions(
        ("torch", "scikit-learn", "onnxruntime", "onnx", "pandas", "numpy")
    )


def git_state():
    """The commit, and whether the imported sklearn_kd is that commit's code.

    Compares the blob hash of every ``.py`` file of the imported package with
    the commit's, wherever the package was imported from (the repository's
    working tree, or a copy put first on ``PYTHONPATH``). Writes no path of
    this machine.
    """
    import hashlib

    import sklearn_kd

    root = HERE.parent

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    def tree(commit):
        blobs = {}
        for line in git("ls-tree", "-r", commit, "--", "sklearn_kd").splitlines():
            meta, _, path = line.partition("\t")
            if path.endswith(".py"):
                blobs[path] = meta.split()[2]
        return blobs

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    package = Path(sklearn_kd.__file__).resolve().parent
    imported = {}
    for file in package.rglob("*.py"):
        data = file.read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        imported["sklearn_kd/" + file.relative_to(package).as_posix()] = blob

    def differing(committed):
        return sorted(
            path
            for path in set(committed) | set(imported)
            if committed.get(path) != imported.get(path)
        )

    commit, committed = head, tree("HEAD")
    differ = differing(committed)
    if differ:
        # A copy of an earlier commit (say, the code before a change, put
        # first on PYTHONPATH): name it.
        for earlier in git("rev-list", "--max-count=30", "HEAD").split()[1:]:
            if not differing(tree(earlier)):
                commit = git("rev-parse", "--short", earlier).strip()
                differ = []
                break
    where = (
        "the repository's working tree"
        if package == (root / "sklearn_kd").resolve()
        else "a copy outside the repository"
    )
    if not committed:
        summary = f"sklearn_kd from {where} (commit unknown)"
    elif differ:
        summary = (
            f"sklearn_kd from {where}, commit {commit} with {len(differ)} "
            "file(s) changed"
        )
    else:
        summary = f"sklearn_kd from {where}, identical to commit {commit}" + (
            f" (HEAD is {head})" if commit != head else ""
        )
    return {
        "commit": commit,
        "head": head,
        "imported_from": where,
        "files_differing_from_commit": differ,
        "summary": summary,
    }


def _loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _without_out(argv):
    return without_flags(argv, ("--out", "--baseline"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child-bulk"]:
        child_bulk(json.loads(argv[1]))
        return None
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on tiny sizes")
    parser.add_argument(
        "--out", type=Path, help="where to write serving.json and serving.md"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="an earlier serving.json to compare with (default: the one in --out)",
    )
    parser.add_argument(
        "--no-bulk", action="store_true", help="skip the 1,000,000-row measurements"
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="measure nothing: rewrite the verdicts and table of a saved "
        "serving.json (and the serving.md next to it)",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        result = json.loads(args.report.read_text())
        for data in result["datasets"].values():
            ratios(data["rows"], numeric_only=not data["info"]["string_columns"])
        for b in result["bulk"]:
            bulk_ratios(b)
        result["verdict"] = verdict(result)
        table = markdown(result)
        args.report.write_text(json.dumps(result, indent=1) + "\n")
        args.report.with_suffix(".md").write_text(table)
        print(table)
        return result
    name = "quick" if args.quick else "full"
    setting = dict(SETTINGS[name])
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    baseline_path = args.baseline or (out / "serving.json" if out is not None else None)
    baseline = None
    if baseline_path is not None and baseline_path.exists():
        baseline = json.loads(baseline_path.read_text())

    # One thread: one request on one core. Put back afterwards, for a caller
    # in the same process (the smoke test).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran
        pass
    try:
        return _run(args, name, setting, out, baseline, argv)
    finally:
        torch.set_num_threads(threads)


def _run(args, name, setting, out, baseline, argv):
    started = time.perf_counter()
    load_before = _loadavg()

    def log(message):
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    datasets, bulk_models = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for data_name in ("diamonds", "friedman1"):
            info, rows, model = run_dataset(data_name, setting, workdir, log)
            ratios(rows, numeric_only=not info["string_columns"])
            datasets[data_name] = {"info": info, "rows": rows}
            if data_name == "friedman1":
                bulk_models["frame"] = model
        bulk = []
        if not args.no_bulk:
            # The ndarray path: the same data, a student fitted on the array
            # (taught by a HistGradientBoosting fitted on the array: quick to
            # fit, and small in the pickle the child processes load).
            X, y = friedman_frame(setting["friedman_rows"], seed=0)
            X = X.to_numpy()
            t0 = time.perf_counter()
            hgb = make_teacher("hgb", "regression", X, 0, 0).fit(X, y)
            bulk_models["array"] = DistilledRegressor(
                hgb, max_epochs=setting["epochs"], random_state=0
            ).fit(X, y)
            log(f"friedman1: distil ndarray student {time.perf_counter() - t0:.1f} s")
            bulk = run_bulk(setting, bulk_models, workdir, log)
    command = "python benchmarks/bench_serving.py " + " ".join(_without_out(argv))
    result = {
        "setting_name": name,
        "setting": setting,
        "command": command.strip(),
        "wall_s": None,
        "environment": {
            "date": time.strftime("%Y-%m-%d"),
            "platform": platform.platform(terse=True),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "versions": versions(),
            # The machine is shared: its 1-minute load average at the start
            # and the end of the run, for reading the noise.
            "load_average_start_end": [load_before, _loadavg()],
        },
        "threads": {
            "torch_num_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "onnxruntime": {
                "intra_op": 1,
                "inter_op": 1,
                "execution_mode": "sequential",
            },
            "threadpoolctl": "limits=1 (BLAS and OpenMP) while timing",
            "scikit_learn_n_jobs": "1 while timing (forest fitted with n_jobs=-1)",
            "bulk_children_env": "OMP_NUM_THREADS=MKL_NUM_THREADS=OPENBLAS_NUM_THREADS=1",
            "summary": "torch 1 thread and 1 inter-op thread, ONNX Runtime 1 intra-op "
            "and 1 inter-op thread, BLAS/OpenMP 1 thread, forests n_jobs=1",
        },
        "git": git_state(),
        "targets": {
            "one_row_ms": ONE_ROW_MS,
            "one_row_over_plain_forward": ONE_ROW_OVER_PLAIN,
            "onnx_over_session_run_numeric": ONNX_OVER_SESSION_NUMERIC,
            "onnx_over_session_run_strings": ONNX_OVER_SESSION_STRINGS,
            "batch_ms": BATCH_MS,
            "bulk_extra_memory_over_input": BULK_MEMORY_OVER_INPUT,
            "bulk_time_tolerance_over_before": BULK_TIME_TOLERANCE,
        },
        "datasets": datasets,
        "bulk": bulk,
    }
    compare(result, baseline)
    result["wall_s"] = time.perf_counter() - started
    result["verdict"] = verdict(result)
    table = markdown(result)
    print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "serving.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / "serving.md").write_text(table)
    return result


if __name__ == "__main__":
    main()
