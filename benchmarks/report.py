"""Summarise and render the results of ``benchmarks/run.py``: tables, headline, plot.

``run.py`` measures and writes the per-seed rows; this module computes the
medians across seeds, the gap closed and the headline numbers, and writes
``<setting>.json``, ``<setting>.md`` and (with matplotlib) ``<setting>.png``.

Run ``python benchmarks/report.py benchmarks/results/full.json`` to summarise a
saved run's per-seed rows again and rewrite its table, plot and medians
(refitting nothing; ``--out DIR`` writes elsewhere). ``python benchmarks/run.py
--report JSON`` does the same.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TEACHER_NAMES, TEACHERS, jsonable, write_json

# ----------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------

MODELS = ("teacher", "scratch", "distilled", "tuned", "imodels_figs", "hummingbird")
METRICS = (
    "score",
    "log_loss",
    "fidelity",
    "latency_1_ms",
    "latency_1000_ms",
    "forward_1_ms",
    "predict_over_forward",
    "skorch_predict_1_ms",
    "size_bytes",
    "params",
    "fit_s",
    "teacher_query_s",
    "teacher_query_share",
)


def gap_closed(model_score, scratch_score, teacher_score):
    """Share of the scratch-to-teacher gap a student closes; None without a gap."""
    if None in (model_score, scratch_score, teacher_score):
        return None
    gap = teacher_score - scratch_score
    if not gap > 0:
        return None
    return (model_score - scratch_score) / gap


#: The rows whose gap closed is reported.
GAP_MODELS = ("distilled", "tuned", "imodels_figs")


def summarise(runs):
    """Medians across seeds per (data set, teacher, model), plus the gap closed.

    Parameters
    ----------
    runs : list of dict
        One row per data set, teacher, model and seed. Each distilled row gets
        its per-seed ``gap_closed``, in place.

    Returns
    -------
    summary : list of dict
        One row per data set, teacher and model: the median of each metric,
        and the gap closed computed from the median scores (per seed it divides
        by the difference of two noisy scores and swings wildly).
    """
    scores = {
        (r["dataset"], r["teacher"], r["model"], r["seed"]): r.get("score")
        for r in runs
    }
    for run in runs:
        run["gap_closed"] = None
        if run["model"] in GAP_MODELS:
            key = (run["dataset"], run["teacher"])
            run["gap_closed"] = gap_closed(
                run.get("score"),
                scores.get((*key, "scratch", run["seed"])),
                scores.get((*key, "teacher", run["seed"])),
            )
    groups = defaultdict(list)
    for run in runs:
        groups[(run["dataset"], run["teacher"], run["model"])].append(run)
    summary = []
    for (dataset, teacher, model), group in groups.items():
        row = {"dataset": dataset, "teacher": teacher, "model": model}
        row["seeds"] = len(group)
        for metric in METRICS:
            values = [r[metric] for r in group if r.get(metric) is not None]
            row[metric] = float(np.median(values)) if values else None
        if model == "tuned":
            row["best_params"] = [r["best_params"] for r in group]
        summary.append(row)
    by_key = {(r["dataset"], r["teacher"], r["model"]): r for r in summary}
    for row in summary:
        key = (row["dataset"], row["teacher"])
        row["gap_closed"] = None
        if row["model"] in GAP_MODELS:
            row["gap_closed"] = gap_closed(
                row["score"],
                by_key[(*key, "scratch")]["score"],
                by_key[(*key, "teacher")]["score"],
            )
    order = {m: i for i, m in enumerate(MODELS)}
    summary.sort(key=lambda r: (r["dataset"], r["teacher"], order[r["model"]]))
    return summary


def aggregate(summary, runs, datasets):
    """The headline numbers: gap closed across pairs, latency and size ratios.

    Parameters
    ----------
    summary : list of dict
        The output of :func:`summarise`.
    runs : list of dict
        The per-seed rows, to count the seeds in which the teacher beats scratch.
    datasets : list of str
        Data sets in the order of the report.

    Returns
    -------
    dict
        ``pairs`` (one entry per data set and teacher) and, for the default and
        the tuned student, the mean and median gap closed over the pairs whose
        teacher beats scratch on the median score (the definition), and the
        mean over the pairs whose teacher beats scratch in every seed (where
        the gap is larger than the seed-to-seed noise).
    """
    by_key = {(r["dataset"], r["teacher"], r["model"]): r for r in summary}
    wins = defaultdict(lambda: [0, 0])
    per_seed = {
        (r["dataset"], r["teacher"], r["model"], r["seed"]): r.get("score")
        for r in runs
    }
    for (d, t, model, seed), score in per_seed.items():
        if model == "teacher":
            wins[d, t][0] += score > per_seed[(d, t, "scratch", seed)]
            wins[d, t][1] += 1
    pairs = [(d, t) for d in datasets for t in TEACHERS if (d, t, "teacher") in by_key]
    out = {"pairs": []}
    for d, t in pairs:
        teacher, scratch = by_key[(d, t, "teacher")], by_key[(d, t, "scratch")]
        distilled, tuned = by_key[(d, t, "distilled")], by_key[(d, t, "tuned")]
        out["pairs"].append(
            {
                "dataset": d,
                "teacher": t,
                "teacher_minus_scratch": teacher["score"] - scratch["score"],
                "teacher_beats_scratch": teacher["score"] > scratch["score"],
                "seeds_teacher_beats_scratch": wins[d, t][0],
                "seeds": wins[d, t][1],
                "gap_closed_distilled": distilled["gap_closed"],
                "gap_closed_tuned": tuned["gap_closed"],
                "predict_over_forward": distilled["predict_over_forward"],
                "speedup_1_row": teacher["latency_1_ms"] / distilled["latency_1_ms"],
                "size_ratio": teacher["size_bytes"] / distilled["size_bytes"],
            }
        )
    for which in ("distilled", "tuned"):
        gaps = [
            p[f"gap_closed_{which}"]
            for p in out["pairs"]
            if p[f"gap_closed_{which}"] is not None
        ]
        clear = [
            p[f"gap_closed_{which}"]
            for p in out["pairs"]
            if p[f"gap_closed_{which}"] is not None
            and p["seeds_teacher_beats_scratch"] == p["seeds"]
        ]
        out[f"mean_gap_closed_{which}"] = float(np.mean(gaps)) if gaps else None
        out[f"median_gap_closed_{which}"] = float(np.median(gaps)) if gaps else None
        out[f"n_pairs_teacher_beats_scratch_{which}"] = len(gaps)
        out[f"mean_gap_closed_{which}_every_seed"] = (
            float(np.mean(clear)) if clear else None
        )
        out[f"n_pairs_teacher_beats_scratch_every_seed_{which}"] = len(clear)
    return out


#: Shown for a value that does not apply or was not measured.
NA = "n/a"


def _fmt(value, digits=3):
    """Three significant digits, thousands grouped; ``NA`` for a missing value."""
    if value is None or not math.isfinite(value):
        return NA
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:#.{digits}g}".rstrip(".")


def _fixed(value, decimals=4):
    """Scores: fixed decimals, so a column of them lines up."""
    return NA if value is None else f"{value:.{decimals}f}"


def _percent(value):
    return NA if value is None else f"{100 * value:,.0f} %"


MODEL_LABELS = {
    "teacher": "teacher",
    "scratch": "MLP from scratch",
    "distilled": "distilled (defaults)",
    "tuned": "distilled (tuned)",
    "imodels_figs": "imodels FIGS",
    "hummingbird": "forest via hummingbird",
}


def markdown(result):
    """The results as markdown: setting, data sets, the table and the headline."""
    setting = result["setting"]
    lines = [
        f"# sklearn_kd benchmark: `{setting['name']}`",
        "",
        f"{result['environment']['when']}, {result['environment']['machine']}; "
        f"{len(result['seeds'])} seed(s) {result['seeds']}, medians across seeds; "
        f"wall time {result['wall_s'] / 60:.1f} min. Regenerate with "
        f"`{result['command']}`. Columns: `benchmarks/README.md`.",
        "",
    ]
    for note in setting.get("notes", ()):
        lines += [f"**Note:** {note}", ""]
    lines += [
        "| data set | task | train / test rows | features | student epochs "
        "(batch) | grid search rows | grid |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, info in result["datasets"].items():
        grid = ", ".join(f"{k} ∈ {v}" for k, v in info["grid"].items())
        search = f"{info['search_rows']:,}"
        if info["search_rows"] < info["n_train"]:
            search += " (subsample)"
        lines.append(
            f"| {name} | {info['task']} | {info['n_train']:,} / {info['n_test']:,} "
            f"| {info['n_features']} ({len(info['string_columns'])} strings) "
            f"| {info['max_epochs']} ({info['batch_size']}) | {search} "
            f"| {grid}, {info['cv']}-fold |"
        )
    lines += [
        "",
        "| data set | teacher | model | score | log-loss | fidelity | gap closed "
        "| 1 row ms | 1k rows ms | forward ms | 1 row / forward | skorch ms "
        "| size KB | params | fit s | query % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rank = {name: i for i, name in enumerate(result["datasets"])}
    models = {name: i for i, name in enumerate(MODELS)}
    for r in sorted(
        result["summary"],
        key=lambda r: (rank[r["dataset"]], r["teacher"], models[r["model"]]),
    ):
        label = MODEL_LABELS[r["model"]]
        if r["model"] == "tuned":
            seen = []
            for params in r["best_params"]:
                text = ", ".join(f"{k}={v:g}" for k, v in sorted(params.items()))
                if text not in seen:
                    seen.append(text)
            label += f" [{'; '.join(seen)}]"
        if r["seeds"] < len(result["seeds"]):
            label += f" ({r['seeds']} seed{'s' if r['seeds'] > 1 else ''})"
        share = r["teacher_query_share"]
        lines.append(
            "| "
            + " | ".join(
                [
                    r["dataset"],
                    TEACHER_NAMES[r["teacher"]],
                    label,
                    _fixed(r["score"]),
                    _fmt(r["log_loss"]),
                    _fixed(r["fidelity"]),
                    _percent(r["gap_closed"]),
                    _fmt(r["latency_1_ms"]),
                    _fmt(r["latency_1000_ms"]),
                    _fmt(r["forward_1_ms"]),
                    _fmt(r["predict_over_forward"]),
                    _fmt(r["skorch_predict_1_ms"]),
                    _fmt(None if r["size_bytes"] is None else r["size_bytes"] / 1e3),
                    NA if r["params"] is None else f"{r['params']:,.0f}",
                    _fmt(r["fit_s"]),
                    _percent(share),
                ]
            )
            + " |"
        )
    agg = result["aggregate"]
    lines += ["", "## Headline", ""]
    n, n_clear = (
        agg["n_pairs_teacher_beats_scratch_distilled"],
        agg["n_pairs_teacher_beats_scratch_every_seed_distilled"],
    )
    lines += [
        f"Gap closed (default / tuned student) over the {n} pair(s) whose teacher "
        "beats scratch on the median score: mean "
        f"{_percent(agg['mean_gap_closed_distilled'])} / "
        f"{_percent(agg['mean_gap_closed_tuned'])}, median "
        f"{_percent(agg['median_gap_closed_distilled'])} / "
        f"{_percent(agg['median_gap_closed_tuned'])}. Over the {n_clear} pair(s) "
        "whose teacher beats scratch in every seed: mean "
        f"{_percent(agg['mean_gap_closed_distilled_every_seed'])} / "
        f"{_percent(agg['mean_gap_closed_tuned_every_seed'])}. A pair whose "
        "teacher leads scratch by less than the seed-to-seed spread divides by "
        "noise: read `teacher - scratch` and the seed count before its ratio.",
        "",
        "| data set | teacher | teacher - scratch | seeds teacher beats scratch "
        "| gap closed (defaults / tuned) | 1 row / forward "
        "| 1-row speed-up vs teacher | teacher size / student size |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in agg["pairs"]:
        gaps = " / ".join(
            _percent(p[k]) for k in ("gap_closed_distilled", "gap_closed_tuned")
        )
        lines.append(
            f"| {p['dataset']} | {TEACHER_NAMES[p['teacher']]} "
            f"| {p['teacher_minus_scratch']:+.4f} "
            f"| {p['seeds_teacher_beats_scratch']} of {p['seeds']} | {gaps} "
            f"| {p['predict_over_forward']:.2f} | {p['speedup_1_row']:.0f}x "
            f"| {p['size_ratio']:,.0f}x |"
        )
    alt = result["optional_packages"]
    lines += [
        "",
        "Optional packages: "
        + "; ".join(f"{k} {v}" for k, v in alt.items())
        + ". Timings: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in result["cost_by_part"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def plot(result, path):
    """Test score against single-row latency, one panel per data set."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as err:  # the plot is optional
        print(f"matplotlib is not usable ({err!r}); skipping the plot.")
        return None
    datasets = list(result["datasets"])
    ncols = min(3, len(datasets))
    nrows = math.ceil(len(datasets) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 4 * nrows), squeeze=False
    )
    markers = {
        "teacher": "s",
        "scratch": "x",
        "distilled": "o",
        "tuned": "D",
        "imodels_figs": "^",
    }
    colours = {"forest": "tab:green", "hgb": "tab:blue"}
    for ax, name in zip(axes.flat, datasets, strict=False):
        for r in result["summary"]:
            if r["dataset"] != name or r["score"] is None or r["model"] not in markers:
                continue
            if r["model"] == "scratch" and r["teacher"] != TEACHERS[0]:
                continue  # the same network for both teachers: one point
            colour = "black" if r["model"] == "scratch" else colours[r["teacher"]]
            label = MODEL_LABELS[r["model"]]
            if r["model"] != "scratch":
                label += f" ({TEACHER_NAMES[r['teacher']]})"
            ax.scatter(
                r["latency_1_ms"],
                r["score"],
                marker=markers[r["model"]],
                color=colour,
                label=label,
            )
        ax.set_xscale("log")
        ax.set_title(f"{name} ({result['datasets'][name]['task']})")
        ax.set_xlabel("single-row predict latency (ms, log)")
        ax.set_ylabel(
            "test R²"
            if result["datasets"][name]["task"] == "regression"
            else "test accuracy"
        )
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
            labels[lab] = lab
    fig.legend(
        list(handles.values()), list(labels), loc="lower center", ncol=3, fontsize=8
    )
    fig.tight_layout(rect=(0, 0.12 if nrows == 1 else 0.08, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write(result, out):
    """Write ``<setting>.json``, ``.md`` and (with matplotlib) ``.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / result["setting"]["name"]
    write_json(stem.with_suffix(".json"), result)
    table = markdown(result)
    stem.with_suffix(".md").write_text(table)
    plot(result, stem.with_suffix(".png"))
    print()
    print(table)
    print(f"wrote {stem}.json, .md (and .png with matplotlib)")


def report(path, out=None):
    """Summarise the per-seed rows of a saved run again and rewrite its outputs.

    Refits and remeasures nothing: the ``runs`` of the JSON file are kept as
    they are; the medians, the gap closed, the headline, the table and the plot
    are computed again (after a change to how they are summarised).

    Parameters
    ----------
    path : path-like
        A ``<setting>.json`` written by this script.
    out : path-like or None
        Where to write; None means next to ``path``.

    Returns
    -------
    result : dict
        What the rewritten JSON file holds.
    """
    path = Path(path)
    result = json.loads(path.read_text())
    result["summary"] = summarise(result["runs"])
    result["aggregate"] = aggregate(
        result["summary"], result["runs"], list(result["datasets"])
    )
    result = jsonable(result)
    write(result, path.parent if out is None else out)
    return result


def main(argv=None):
    """``report.py JSON [--out DIR]``: summarise a saved run again, rewrite it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="a <setting>.json written by run.py")
    parser.add_argument(
        "--out", type=Path, help="where to write (default: the JSON file's folder)"
    )
    args = parser.parse_args(argv)
    return report(args.json, args.out)


if __name__ == "__main__":
    main()
