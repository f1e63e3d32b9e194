"""Benchmark the student's numeric encoding: today's default against the new one.

For every data set of ``run.py``'s full setting, seed and teacher (a 300-tree
random forest and a HistGradientBoosting model, fitted before distillation),
side by side on the same 80/20 split:

- ``teacher``: the fitted teacher;
- ``scratch_none``: the zero point, the student before this change trained
  from scratch (2x64 MLP on standardised numbers and one-hot strings,
  ``numeric_encoding="none"``, ``alpha=1, beta=0``), with ``run.py``'s epoch
  budget (``epochs_for``: 20 to 100 epochs) and no early stopping, as
  ``run.py`` trains it;
- ``distilled_none``: the distiller's old default, the same way;
- ``scratch_ple``: the new default student trained from scratch (its
  piecewise-linear bins come from the labels, never from the teacher);
- ``distilled``: the new default distiller (piecewise-linear encoding, bins from
  the teacher's split thresholds, 8, 16, 32 or 64 a column as the validation
  loss chooses, up to 1000 epochs with early stopping);
- ``distilled_budget``: the new student with the old training budget (the
  same epochs as ``distilled_none``, no early stopping): what the encoding
  alone buys;
- ``distilled_rows``: the new default with one bin count set by the size of
  the data (one per 50 training rows, 8 to 32: ``n_bins='auto'`` before it
  chose between 8, 16, 32 and 64 on the validation rows), one training;
- ``distilled_outputs``: the new student with bins from the teacher's outputs
  (``binning="outputs"``), what any teacher gets;
- forest teachers only: ``distilled_in_sample`` (``teacher_labels="in_sample"``:
  the forest's in-sample outputs instead of the default's out-of-bag ones) and, on
  sets under 10,000 training rows, ``distilled_cv`` (``teacher_cv=3``, clones
  of the forest fitted on folds).

Per model: test score (R² or accuracy), fidelity to the teacher (R² to its
predictions, or agreement), gap closed (share of the teacher's lead over
``scratch_none``), deployed size, single-row ``predict`` on a numeric array
against a bare forward of the same module (encoding included), and fit time.

Run ``python benchmarks/bench_encoding.py`` (about 50 minutes on 2 cores for
the nine sets other than diamonds, which adds about 35);
``--quick`` for a smoke run; ``--datasets a,b`` for some sets.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATASETS,
    RESULTS_DIR,
    TEACHER_NAMES,
    TEACHERS,
    make_teacher,
    median_ms,
    pickled_bytes,
    score,
    take,
    warm_up,
)
from report import gap_closed
from run import SETTINGS, deployed, epochs_for

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.students._bins import auto_n_bins

#: The training budget before this change, in run.py's words: ``epochs_for``
#: epochs (filled in per data set) and no early stopping.
OLD_BUDGET = {"max_epochs": None, "early_stopping": False}
#: Stands for the bins per column that ``n_bins='auto'`` gave before it chose
#: between counts on the validation rows: one per 50 training rows, 8 to 32.
BINS_BY_ROWS = "by rows"
#: name -> (label, distiller parameters, teachers it applies to)
MODELS = {
    "scratch_none": (
        "MLP from scratch (before)",
        {"numeric_encoding": "none", "alpha": 1.0, "beta": 0.0, **OLD_BUDGET},
        (),
    ),
    "scratch_ple": ("PLE MLP from scratch", {"alpha": 1.0, "beta": 0.0}, ()),
    "distilled_none": (
        "distilled (old default)",
        {"numeric_encoding": "none", "teacher_labels": "in_sample", **OLD_BUDGET},
        TEACHERS,
    ),
    "distilled": ("distilled (new default)", {}, TEACHERS),
    "distilled_budget": ("distilled, old budget", OLD_BUDGET, TEACHERS),
    "distilled_rows": (
        "distilled, n_bins by rows",
        {"n_bins": BINS_BY_ROWS},
        TEACHERS,
    ),
    "distilled_outputs": (
        "distilled, bins from outputs",
        {"binning": "outputs"},
        TEACHERS,
    ),
    "distilled_in_sample": (
        "distilled, in-sample labels",
        {"teacher_labels": "in_sample"},
        ("forest",),
    ),
    "distilled_cv": ("distilled, teacher_cv=3", {"teacher_cv": 3}, ("forest",)),
}
#: teacher_cv refits the forest three times: only on the smaller sets.
CV_MAX_ROWS = 10_000


def numeric_latency(model, X_test, repeats, budget):
    """Single-row predict on a numeric array, and a bare forward of the module."""
    row = take(X_test, slice(0, 1))
    Xs = model.preprocessor_.transform(row)
    x = torch.from_numpy(np.asarray(Xs, dtype=np.float64))
    module = model._inference_module_
    with torch.inference_mode():
        forward = median_ms(lambda: module(x), repeats, budget)
    out = {"forward_1_ms": forward}
    if not hasattr(X_test, "columns") or not model.preprocessor_.categorical_columns_:
        array = np.asarray(row.to_numpy() if hasattr(row, "to_numpy") else row)
        array = array.astype(np.float64)
        fitted_on_frame = hasattr(model, "feature_names_in_")
        call_input = row if fitted_on_frame else array
        out["predict_1_ms"] = median_ms(
            lambda: model.predict(call_input), repeats, budget
        )
        out["predict_over_forward"] = out["predict_1_ms"] / forward
    return out


def run_one(name, seed, quick):
    task, load = DATASETS[name]
    X, y = load()
    if quick and len(y) > 600:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), 600, replace=False))
        X, y = take(X, keep), y[keep]
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=stratify
    )
    setting = SETTINGS["quick" if quick else "full"]
    epochs = epochs_for(len(y_train), setting)
    Distiller = DistilledRegressor if task == "regression" else DistilledClassifier
    # The new defaults train as the library does; a smoke run caps them.
    budget = {"random_state": seed, **({"max_epochs": 10} if quick else {})}
    rows = []
    teachers = {}
    for kind in TEACHERS:
        teacher = make_teacher(kind, task, X_train, setting.n_trees, seed)
        start = time.perf_counter()
        teachers[kind] = teacher.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        pred = teacher.predict(X_test)
        rows.append(
            {
                "model": "teacher",
                "teacher": kind,
                "score": score(task, y_test, pred),
                "fidelity": 1.0,
                "fit_s": fit_s,
                "size_bytes": pickled_bytes(teacher),
            }
        )
    teacher_pred = {k: t.predict(X_test) for k, t in teachers.items()}
    for model_name, (_, params, kinds) in MODELS.items():
        if model_name == "distilled_cv" and len(y_train) > CV_MAX_ROWS:
            continue
        for kind in kinds or ("forest",):
            teacher = teachers[kind]
            if model_name == "distilled_cv":
                teacher = make_teacher(kind, task, X_train, setting.n_trees, seed)
            if "max_epochs" in params:
                params = {**params, "max_epochs": epochs}
            if params.get("n_bins") == BINS_BY_ROWS:
                params = {**params, "n_bins": auto_n_bins(len(y_train))}
            start = time.perf_counter()
            model = Distiller(teacher, **{**budget, **params}).fit(X_train, y_train)
            fit_s = time.perf_counter() - start
            pred = model.predict(X_test)
            entry = {
                "model": model_name,
                "fit_s": fit_s,
                "epochs_run": len(model.history_),
                "early_stopping": model.early_stopping_,
            }
            entry["score"] = score(task, y_test, pred)
            entry["size_bytes"] = pickled_bytes(deployed(model))
            entry["bins_source"] = model.bins_source_
            entry["n_bins"] = model.n_bins_
            entry["inputs"] = int(model.student_.module_.layers.hidden_1[0].in_features)
            entry.update(
                numeric_latency(
                    model, X_test, 30 if quick else 200, 0.3 if quick else 2
                )
            )
            # A scratch student is compared with both teachers; a distilled
            # one with its own.
            for k in [kind] if kinds else TEACHERS:
                rows.append(
                    {
                        **entry,
                        "teacher": k,
                        "fidelity": score(task, teacher_pred[k], pred)
                        if task == "regression"
                        else float(np.mean(pred == teacher_pred[k])),
                    }
                )
            print(
                f"  {name} seed {seed} {model_name:18s} {kind:6s} "
                f"score {entry['score']:.4f} fit {fit_s:.1f}s",
                flush=True,
            )
    info = {"task": task, "n_train": len(y_train), "epochs": epochs}
    return info, rows


def summarise(runs):
    """Medians across seeds per (data set, teacher, model), gaps per seed."""
    table = {}
    for (name, seed), (info, rows) in runs.items():
        by = {(r["teacher"], r["model"]): r for r in rows}
        for (kind, model), row in by.items():
            teacher = by[kind, "teacher"]["score"]
            zero = by[kind, "scratch_none"]["score"]
            cell = table.setdefault((name, kind, model), {"seeds": {}})
            cell["seeds"][seed] = {
                **row,
                "gap": teacher - zero,
                "gap_closed": gap_closed(row["score"], zero, teacher),
                "within_half_percent": row["score"] >= teacher - 0.005 * abs(teacher),
            }
            cell["info"] = info
    out = []
    for (name, kind, model), cell in table.items():
        seeds = cell["seeds"]

        def median(key, seeds=seeds):
            values = [s[key] for s in seeds.values() if s.get(key) is not None]
            return float(np.median(values)) if values else None

        out.append(
            {
                "dataset": name,
                "teacher": kind,
                "model": model,
                "task": cell["info"]["task"],
                "n_train": cell["info"]["n_train"],
                "epochs": cell["info"]["epochs"],
                "seeds": sorted(seeds),
                "min_gap": min(s["gap"] for s in seeds.values()),
                **{
                    key: median(key)
                    for key in (
                        "score",
                        "fidelity",
                        "gap_closed",
                        "size_bytes",
                        "predict_over_forward",
                        "fit_s",
                        "inputs",
                        "epochs_run",
                    )
                },
                "mean_gap_closed": float(
                    np.mean([s["gap_closed"] for s in seeds.values()])
                )
                if all(s["gap_closed"] is not None for s in seeds.values())
                else None,
                "score_spread": float(np.ptp([s["score"] for s in seeds.values()])),
                "bins_source": next(iter(seeds.values())).get("bins_source"),
                # Bins per column in each seed (what n_bins='auto' kept).
                "n_bins": [s.get("n_bins") for _, s in sorted(seeds.items())],
            }
        )
    return out


def verdict(summary):
    """The issue's acceptance figures over pairs where the teacher leads by 0.01."""
    cells = {(r["dataset"], r["teacher"], r["model"]): r for r in summary}
    pairs = sorted({(d, t) for d, t, m in cells if m == "teacher" and cells[d, t, m]})
    gapped = [p for p in pairs if cells[(*p, "scratch_none")]["min_gap"] >= 0.01]
    lines = []
    if not gapped:
        return [
            "No (data set, teacher) pair where the teacher leads in every seed.",
            *costs(cells, pairs),
        ]
    closed = [cells[(*p, "distilled")]["mean_gap_closed"] for p in gapped]
    teacher_score = {p: cells[(*p, "teacher")]["score"] for p in gapped}
    within = [
        cells[(*p, "distilled")]["score"]
        >= teacher_score[p] - 0.005 * abs(teacher_score[p])
        for p in gapped
    ]
    fid_above = [
        cells[(*p, "distilled")]["fidelity"] > cells[(*p, "scratch_ple")]["fidelity"]
        for p in pairs
    ]
    lines.append(
        f"Pairs where the teacher beats the old scratch student by >= 0.01 in every "
        f"seed: {len(gapped)} of {len(pairs)} "
        f"({', '.join(f'{d}/{TEACHER_NAMES[t]}' for d, t in gapped)})."
    )
    lines.append(
        f"New default distilled student, gap closed: mean {np.mean(closed):.0%} "
        f"(each capped at 100 %: {np.mean(np.minimum(closed, 1)):.0%}), "
        f"lowest {np.min(closed):.0%} "
        f"({', '.join(f'{d}/{t}: {c:.0%}' for (d, t), c in zip(gapped, closed, strict=True))})."
    )
    lines.append(
        f"Within 0.5 % of its teacher or above: {sum(within)} of {len(gapped)} pairs."
    )
    lines.append(
        f"Fidelity above the new scratch student's: {sum(fid_above)} of "
        f"{len(pairs)} pairs."
    )
    if all((*p, "distilled_rows") in cells for p in pairs):
        lines.append(bins_choice(cells, pairs, gapped))
    worse = [
        f"{d}/{t}"
        for d, t in pairs
        if cells[(d, t, "distilled")]["score"]
        < cells[(d, t, "distilled_none")]["score"]
        - max(
            cells[(d, t, "distilled_none")]["score_spread"],
            cells[(d, t, "distilled")]["score_spread"],
        )
    ]
    lines.append(
        "Worse than the old default by more than the seed spread: "
        + (", ".join(worse) if worse else "none")
        + "."
    )
    lines += costs(cells, pairs)
    return lines


def bins_choice(cells, pairs, gapped):
    """What choosing ``n_bins`` on the validation rows buys over one count by
    the size of the data: median score and fidelity, pair by pair."""
    d_score = {
        p: cells[(*p, "distilled")]["score"] - cells[(*p, "distilled_rows")]["score"]
        for p in pairs
    }
    d_fid = {
        p: cells[(*p, "distilled")]["fidelity"]
        - cells[(*p, "distilled_rows")]["fidelity"]
        for p in pairs
    }
    gap_scores = [d_score[p] for p in gapped]
    return (
        "n_bins chosen on the validation rows against one count by rows: score "
        f"higher on {sum(v > 0 for v in d_score.values())}, lower on "
        f"{sum(v < 0 for v in d_score.values())} of {len(pairs)} pairs (on the "
        f"gap pairs {sum(v > 0 for v in gap_scores)} higher, "
        f"{sum(v < 0 for v in gap_scores)} lower, mean "
        f"{np.mean(gap_scores):+.4f}); fidelity higher on "
        f"{sum(v > 0 for v in d_fid.values())}, lower on "
        f"{sum(v < 0 for v in d_fid.values())}."
    )


def costs(cells, pairs):
    """Size, single-row latency and fit time of the new default against the old."""
    new = [cells[(*p, "distilled")] for p in pairs]
    old = [cells[(*p, "distilled_none")] for p in pairs]
    teacher = [cells[(*p, "teacher")] for p in pairs]
    ratios = [
        t["size_bytes"] / n["size_bytes"] for t, n in zip(teacher, new, strict=True)
    ]
    latency = [n["predict_over_forward"] for n in new if n["predict_over_forward"]]
    fit = [n["fit_s"] / o["fit_s"] for n, o in zip(new, old, strict=True)]
    return [
        f"Deployed size of the new default: {min(n['size_bytes'] for n in new) / 1e3:.1f}"
        f"-{max(n['size_bytes'] for n in new) / 1e3:.1f} kB (old "
        f"{min(o['size_bytes'] for o in old) / 1e3:.1f}-"
        f"{max(o['size_bytes'] for o in old) / 1e3:.1f} kB); the teacher is "
        f"{min(ratios):,.0f}x to {max(ratios):,.0f}x larger.",
        "Single-row predict on a numeric array over a bare forward of the same "
        "module (encoding included): "
        + (f"{min(latency):.2f}-{max(latency):.2f}x." if latency else "n/a."),
        f"Fit time, new default over old (median per pair): {np.median(fit):.2f}x "
        f"({min(fit):.2f}x to {max(fit):.2f}x).",
    ]


def bins_cell(row):
    """Where the bins came from and, per seed, how many a column."""
    if not row.get("bins_source"):
        return ""
    counts = [c for c in row.get("n_bins") or [] if c is not None]
    return row["bins_source"] + (
        f" ({'/'.join(str(c) for c in counts)})" if counts else ""
    )


def markdown(result):
    summary = result["summary"]
    out = [
        "# sklearn_kd benchmark: numeric encoding",
        "",
        f"{result['date']}, {result['machine']}, torch threads 1; seeds "
        f"{result['seeds']}, medians across seeds; wall time "
        f"{result['wall_s'] / 60:.1f} min. Regenerate with "
        "`python benchmarks/bench_encoding.py`.",
        "",
        *[f"- {line}" for line in result["verdict"]],
        "",
        "| data set | teacher | model | score | fidelity | gap closed | inputs | "
        "size KB | 1 row / forward | epochs | fit s | bins |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["teacher", *MODELS]
    for r in sorted(
        summary,
        key=lambda r: (
            result["datasets"].index(r["dataset"]),
            r["teacher"],
            order.index(r["model"]),
        ),
    ):
        label = "teacher" if r["model"] == "teacher" else MODELS[r["model"]][0]

        def f(v, fmt):
            return "n/a" if v is None else format(v, fmt)

        out.append(
            f"| {r['dataset']} | {TEACHER_NAMES[r['teacher']]} | {label} | "
            f"{f(r['score'], '.4f')} | {f(r['fidelity'], '.4f')} | "
            f"{f(r['mean_gap_closed'], '.0%')} | {f(r['inputs'], '.0f')} | "
            f"{f(None if r['size_bytes'] is None else r['size_bytes'] / 1e3, ',.1f')}"
            f" | {f(r['predict_over_forward'], '.2f')} | {f(r['epochs_run'], '.0f')}"
            f" | {f(r['fit_s'], '.2f')} | "
            f"{bins_cell(r)} |"
        )
    out += [
        "",
        "Gap closed: the mean over seeds of (model - scratch) / (teacher - "
        "scratch), scratch being the old student from scratch; n/a where the "
        "teacher does not lead in every seed. Size: the pickled preprocessor and "
        "network. 1 row / forward: `predict` on a one-row numeric array over a "
        "bare forward of the same module on a ready tensor (numeric sets only). "
        "Bins: their source and, per seed, the bins per column (for the new "
        "default, the count its validation loss chose).",
    ]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--report", default=None, help="rewrite the markdown of a saved JSON run"
    )
    args = parser.parse_args(argv)
    if args.report:
        path = Path(args.report)
        result = json.loads(path.read_text())
        result["verdict"] = verdict(result["summary"])
        path.write_text(json.dumps(result, indent=1, default=str))
        path.with_suffix(".md").write_text(markdown(result))
        print(markdown(result))
        return
    setting = SETTINGS["quick" if args.quick else "full"]
    datasets = args.datasets.split(",") if args.datasets else list(setting.datasets)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    torch.set_num_threads(1)
    start = time.perf_counter()
    runs = {}
    name = args.out or ("encoding_quick" if args.quick else "encoding")
    with threadpool_limits(limits=1):
        warm_up()
        for dataset in datasets:
            for seed in seeds:
                runs[dataset, seed] = run_one(dataset, seed, args.quick)
            # Written after each data set, so that a long run can be read early.
            text = write(runs, datasets, seeds, time.perf_counter() - start, name)
    print(text)


def write(runs, datasets, seeds, wall_s, name):
    done = [d for d in datasets if any(k[0] == d for k in runs)]
    summary = summarise(runs)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "datasets": done,
        "seeds": seeds,
        "wall_s": wall_s,
        "summary": summary,
        "verdict": verdict(summary),
        "runs": {f"{n}/{s}": rows for (n, s), (_, rows) in runs.items()},
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    text = markdown(result)
    (RESULTS_DIR / f"{name}.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
