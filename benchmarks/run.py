"""Benchmark the distillers against their teachers, scratch networks and alternatives.

For every data set, seed and teacher (a 300-tree random forest and a
HistGradientBoosting model, both fitted before distillation) the runner fits and
measures, side by side on the same 80/20 split:

- the teacher, as it would be deployed (its whole Pipeline);
- the default student trained from scratch (``alpha=1, beta=0``: the same 2x64
  MLP, seed and budget, on the labels only; it never queries a teacher, so it is
  fitted once per data set and seed and compared with both teachers);
- the distilled student with default parameters;
- the distilled student tuned by a small ``GridSearchCV`` over ``alpha`` (and
  ``T`` for classifiers), refitted on the whole training set;
- where installed: imodels' ``DistilledRegressor`` with a FIGS student
  (regression) and the forest compiled to torch by hummingbird-ml (latency).

It answers four questions: how much accuracy is lost, how much faster and
smaller the student is, how much better than training the same network from
scratch, and how long distilling takes (and how much of it is spent querying
the teacher). Each number is the median over the seeds; the JSON keeps every
per-seed value.

Run ``python benchmarks/run.py`` for the published ``full`` setting (about
40 minutes on 2 cores), ``python benchmarks/run.py --quick`` for a smoke run
(seconds). ``benchmarks/README.md`` explains every column.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning. With torch and scikit-learn's
# own OpenMP runtimes in one process on a busy 2-core machine, spinning made the
# first HistGradientBoosting fit on 455 rows take 46 s instead of 1 s. Set before
# numpy, scikit-learn and torch load their runtimes; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import importlib
import importlib.metadata
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATASETS,
    RESULTS_DIR,
    TEACHERS,
    CompiledForest,
    budget_epochs,
    environment,
    final_step,
    jsonable,
    make_teacher,
    median_ms,
    pickled_bytes,
    string_columns,
    take,
    tree_nodes,
    warm_up,
)
from _common import without_flags as _without_out
from report import aggregate, report, summarise, write

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.teachers import SklearnTeacher

# ----------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """Budgets of one benchmark setting.

    The student's epochs follow from a budget of optimizer steps, so that the
    large data sets do not take the whole run: ``max_epochs = clip(ceil(steps /
    batches_per_epoch), min_epochs, max_epochs)``, from the size of the whole
    training set. In the full setting the cap is the library's default of 100
    epochs, which the small data sets get. The scratch, default and tuned
    students of a data set (and every grid candidate) share that budget.
    """

    name: str
    datasets: tuple[str, ...]
    seeds: int
    n_trees: int
    steps: int
    min_epochs: int
    max_epochs: int
    batch_size: int
    grid_regression: dict
    grid_classification: dict
    cv: int
    #: ``GridSearchCV`` runs on a random subsample of this many training rows
    #: when the training set is larger; the winner is refitted on all rows.
    search_max_rows: int | None
    #: Quick runs subsample each data set to this many rows before the split.
    max_rows: int | None
    #: Most calls and most seconds spent timing one latency.
    repeats_one_row: int
    repeats_batch: int
    latency_budget_s: float
    alternatives: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)


SETTINGS = {
    "quick": Setting(
        name="quick",
        datasets=("diabetes", "breast_cancer"),
        seeds=1,
        n_trees=30,
        steps=100,
        min_epochs=5,
        max_epochs=10,
        batch_size=256,
        grid_regression={"alpha": [0.0, 0.7]},
        grid_classification={"alpha": [0.3], "T": [1.0, 4.0]},
        cv=2,
        search_max_rows=None,
        max_rows=600,
        repeats_one_row=30,
        repeats_batch=3,
        latency_budget_s=0.2,
        notes=("smoke run: subsampled data, tiny budgets; not for reading",),
    ),
    "full": Setting(
        name="full",
        datasets=(
            "diamonds",
            "computers",
            "diabetes",
            "hi",
            "digits",
            "breast_cancer",
            "cigar",
            "star",
            "wages",
            "yogurt",
        ),
        seeds=3,
        n_trees=300,
        steps=4000,
        min_epochs=20,
        max_epochs=100,
        batch_size=256,
        grid_regression={"alpha": [0.0, 0.3, 0.7]},
        grid_classification={"alpha": [0.0, 0.3, 0.7], "T": [1.0, 4.0]},
        cv=3,
        search_max_rows=8000,
        max_rows=None,
        repeats_one_row=200,
        repeats_batch=15,
        latency_budget_s=2.0,
    ),
}

# ----------------------------------------------------------------------------
# Teachers
# ----------------------------------------------------------------------------


class TimedTeacher(SklearnTeacher):
    """The fitted teacher, adding up the seconds the distillers spend querying it.

    A teacher adapter is frozen data for the distillers (``clone`` returns the
    same object), so one instance collects the queries of a default fit or of
    every fold and the refit of a grid search.

    Parameters
    ----------
    estimator : object
        The fitted teacher.
    """

    def __init__(self, estimator):
        super().__init__(estimator)
        self.seconds = 0.0
        self.calls = 0

    def query(self, X, signals, **kwargs):
        """Query the wrapped teacher (see ``Teacher.query``), timing the call."""
        start = time.perf_counter()
        try:
            return super().query(X, signals, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def reset(self):
        self.seconds, self.calls = 0.0, 0
        return self


# ----------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------


def is_distiller(model):
    return isinstance(model, (DistilledRegressor, DistilledClassifier))


def deployed(model):
    """What serving a distiller needs: its encoder and network, not the teacher."""
    return (model.preprocessor_, model.student_.module_)


def skorch_predict(net, Xs):
    """A call of skorch's own ``NeuralNet.predict`` on the preprocessed rows.

    Returns the callable and how it was called. The distiller trains with its
    own batch iterator, which needs targets; when the fitted net cannot predict
    new rows with it, a copy with skorch's default ``DataLoader`` is used (the
    same forward pass, through skorch's usual predict path).
    """
    try:
        net.predict(Xs)
    except Exception as err:  # recorded in the results
        fallback = copy.deepcopy(net)
        # Assigned, not set_params: on this fitted net skorch 1.4's
        # set_params(iterator_valid=...) raises "Something went wrong".
        fallback.iterator_valid = torch.utils.data.DataLoader
        fallback.predict(Xs)
        how = (
            "copy of student_ with iterator_valid=DataLoader; student_.predict "
            f"raised {type(err).__name__}: {err}"
        )
        return (lambda: fallback.predict(Xs)), how
    return (lambda: net.predict(Xs)), "student_.predict"


def measure(
    model, task, X_test, y_test, teacher_pred, setting, *, deploy, accuracy=True
):
    """Scores and deployment costs of one fitted model on the test set.

    ``deploy`` is what serving the model needs, pickled for its size (None: not
    measured); ``accuracy=False`` measures latency only.
    """
    row = {}
    if accuracy:
        pred = model.predict(X_test)
        if task == "regression":
            row["score"] = r2_score(y_test, pred)
            row["fidelity"] = r2_score(teacher_pred, pred)
        else:
            row["score"] = accuracy_score(y_test, pred)
            row["fidelity"] = float(np.mean(pred == teacher_pred))
            if hasattr(model, "predict_proba"):
                proba = model.predict_proba(X_test)
                row["log_loss"] = log_loss(y_test, proba, labels=model.classes_)
    one_row, batch = take(X_test, slice(0, 1)), take(X_test, slice(0, 1000))
    row["latency_1_ms"] = median_ms(
        lambda: model.predict(one_row),
        setting.repeats_one_row,
        setting.latency_budget_s,
    )
    row["latency_1000_ms"] = median_ms(
        lambda: model.predict(batch), setting.repeats_batch, setting.latency_budget_s
    )
    if is_distiller(model):
        Xs = model.preprocessor_.transform(one_row)
        x = torch.from_numpy(np.asarray(Xs, dtype=np.float64))
        module = model._inference_module_
        # Bare: the tensor is ready and inference mode is entered once, outside
        # the timed calls, so this is the network's own cost.
        with torch.inference_mode():
            row["forward_1_ms"] = median_ms(
                lambda: module(x), setting.repeats_one_row, setting.latency_budget_s
            )
        row["predict_over_forward"] = row["latency_1_ms"] / row["forward_1_ms"]
        call, how = skorch_predict(model.student_, np.asarray(Xs, dtype=np.float32))
        row["skorch_predict_1_ms"] = median_ms(
            call, setting.repeats_one_row, setting.latency_budget_s
        )
        row["skorch_predict_path"] = how
        row["params"] = int(sum(p.numel() for p in model.student_.module_.parameters()))
    if deploy is not None:
        row["size_bytes"] = pickled_bytes(deploy)
    return row


# ----------------------------------------------------------------------------
# Alternatives (optional imports)
# ----------------------------------------------------------------------------


def optional_versions():
    """Versions of the optional packages, or why they are not used."""
    found = {}
    for name, module in (
        ("matplotlib", "matplotlib"),
        ("imodels", "imodels"),
        ("hummingbird-ml", "hummingbird.ml"),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(module)
            found[name] = importlib.metadata.version(name)
        except Exception as err:  # any import failure means skip
            found[name] = f"not used: {type(err).__name__}: {err}"
    return found


def available(versions, name):
    return not str(versions.get(name, "not used")).startswith("not used")


def fit_imodels(teacher, X_train, y_train, seed):
    """imodels' DistilledRegressor: a FIGS model fitted to the teacher's outputs.

    imodels refits its teacher; ``FrozenEstimator`` keeps ours as it is. FIGS
    needs numbers, so string columns get the teacher's OrdinalEncoder.
    """
    from imodels import DistilledRegressor as ImodelsDistilledRegressor
    from imodels import FIGSRegressor
    from sklearn.frozen import FrozenEstimator

    student = FIGSRegressor(random_state=seed)
    if isinstance(teacher, Pipeline):
        student = make_pipeline(clone(teacher[0]), student)
    model = ImodelsDistilledRegressor(FrozenEstimator(teacher), student)
    return model.fit(X_train, y_train)


# ----------------------------------------------------------------------------
# One data set and seed
# ----------------------------------------------------------------------------


def epochs_for(n_train, setting):
    """The student's epochs in ``setting`` (see ``Setting``)."""
    return budget_epochs(
        n_train,
        setting.steps,
        setting.batch_size,
        setting.min_epochs,
        setting.max_epochs,
    )


@dataclass
class Fitted:
    """A fitted model and what it cost."""

    model: object
    #: What serving the model needs, pickled for its size; None: not measured.
    deploy: object
    seconds: float
    #: Seconds spent querying the teacher inside ``seconds``; None: not a student.
    query_s: float | None = None
    extra: dict = field(default_factory=dict)


class Clock:
    """Collects how long each part of the run takes, for the cost table."""

    def __init__(self):
        self.parts = []

    def __call__(self, dataset, seed, part, seconds):
        self.parts.append(
            {"dataset": dataset, "seed": seed, "part": part, "seconds": seconds}
        )
        print(f"  {dataset} seed {seed}: {part} {seconds:.1f} s", flush=True)


def run_one(name, seed, setting, versions, clock):
    """Fit and measure every model on one data set and seed; one row per model."""
    task, load = DATASETS[name]
    X, y = load()
    if setting.max_rows is not None and len(y) > setting.max_rows:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(y), setting.max_rows, replace=False))
        X, y = take(X, keep), y[keep]
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=stratify
    )
    n_train = len(y_train)
    epochs = epochs_for(n_train, setting)
    Distiller = DistilledRegressor if task == "regression" else DistilledClassifier
    budget = {
        "max_epochs": epochs,
        "batch_size": setting.batch_size,
        "random_state": seed,
    }
    info = {
        "task": task,
        "n_train": n_train,
        "n_test": len(y_test),
        "n_features": X.shape[1],
        "string_columns": string_columns(X),
        "max_epochs": epochs,
        "batch_size": setting.batch_size,
    }

    teachers, teacher_fit = {}, {}
    for kind in TEACHERS:
        start = time.perf_counter()
        teachers[kind] = make_teacher(kind, task, X_train, setting.n_trees, seed).fit(
            X_train, y_train
        )
        teacher_fit[kind] = time.perf_counter() - start
        clock(name, seed, f"fit {kind} teacher", teacher_fit[kind])

    # Scratch never queries its teacher: fit it once, compare it with both.
    timed = {kind: TimedTeacher(model) for kind, model in teachers.items()}
    start = time.perf_counter()
    scratch = Distiller(timed["forest"].reset(), alpha=1.0, beta=0.0, **budget)
    scratch.fit(X_train, y_train)
    scratch_fit = time.perf_counter() - start
    assert timed["forest"].calls == 0, "the scratch student queried its teacher"
    clock(name, seed, "fit scratch student", scratch_fit)

    if task == "regression":
        grid = setting.grid_regression
    else:
        grid = setting.grid_classification
    search_rows = n_train
    if setting.search_max_rows is not None and n_train > setting.search_max_rows:
        search_rows = setting.search_max_rows
    search_idx = np.sort(
        np.random.default_rng(seed).choice(n_train, search_rows, replace=False)
    )
    info.update(
        search_rows=search_rows,
        grid={k: list(v) for k, v in grid.items()},
        cv=setting.cv,
    )

    rows = []
    for kind in TEACHERS:
        teacher, adapter = teachers[kind], timed[kind]
        # model name -> the fitted model, what a deployment pickles (None: not
        # measured), fit seconds, teacher-query seconds and extra columns.
        fitted = {
            "teacher": Fitted(teacher, teacher, teacher_fit[kind]),
            "scratch": Fitted(scratch, deployed(scratch), scratch_fit, 0.0),
        }

        adapter.reset()
        start = time.perf_counter()
        default = Distiller(adapter, **budget).fit(X_train, y_train)
        seconds = time.perf_counter() - start
        fitted["distilled"] = Fitted(
            default, deployed(default), seconds, adapter.seconds
        )
        clock(name, seed, f"fit distilled student ({kind})", seconds)

        adapter.reset()
        start = time.perf_counter()
        search = GridSearchCV(
            Distiller(adapter, **budget),
            grid,
            cv=setting.cv,
            refit=False,
            error_score="raise",
        )
        search.fit(take(X_train, search_idx), y_train[search_idx])
        searched = time.perf_counter() - start
        tuned = Distiller(adapter, **budget).set_params(**search.best_params_)
        tuned.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        fitted["tuned"] = Fitted(
            tuned,
            deployed(tuned),
            seconds,
            adapter.seconds,
            {
                "best_params": search.best_params_,
                "cv_score": float(search.best_score_),
                "search_s": searched,
                "refit_s": seconds - searched,
            },
        )
        clock(name, seed, f"grid search + refit ({kind})", seconds)

        alternatives = setting.alternatives
        if alternatives and task == "regression" and available(versions, "imodels"):
            start = time.perf_counter()
            try:
                model = fit_imodels(teacher, X_train, y_train, seed)
                fitted["imodels_figs"] = Fitted(
                    model, model.student, time.perf_counter() - start
                )
            except Exception as err:  # an optional alternative
                print(f"  imodels failed on {name}: {err!r}", flush=True)
            clock(name, seed, f"fit imodels FIGS ({kind})", time.perf_counter() - start)
        # Compiled once per data set (first seed): converting the diamonds forest
        # took over 4 minutes and 5 GB, and only its latency is reported.
        if (
            alternatives
            and kind == "forest"
            and seed == 0
            and available(versions, "hummingbird-ml")
        ):
            start = time.perf_counter()
            try:
                model = CompiledForest(teacher)
                fitted["hummingbird"] = Fitted(model, None, time.perf_counter() - start)
            except Exception as err:  # an optional alternative
                print(f"  hummingbird failed on {name}: {err!r}", flush=True)
            clock(
                name, seed, "compile forest (hummingbird)", time.perf_counter() - start
            )

        # Latency as deployed: one thread everywhere (forest n_jobs=1, OpenMP
        # and BLAS pools limited, torch set to one thread in main).
        final = final_step(teacher)
        if "n_jobs" in final.get_params():
            final.set_params(n_jobs=1)
        teacher_pred = teacher.predict(X_test)
        start = time.perf_counter()
        with threadpool_limits(limits=1):
            for model_name, fit in fitted.items():
                row = measure(
                    fit.model,
                    task,
                    X_test,
                    y_test,
                    teacher_pred,
                    setting,
                    deploy=fit.deploy,
                    accuracy=model_name != "hummingbird",
                )
                if model_name == "teacher":
                    row["params"] = tree_nodes(teacher)
                if model_name == "imodels_figs":
                    figs = final_step(fit.model.student)
                    row["params"] = getattr(figs, "complexity_", None)
                row["fit_s"] = fit.seconds
                if fit.query_s is not None:
                    row["teacher_query_s"] = fit.query_s
                    row["teacher_query_share"] = fit.query_s / fit.seconds
                rows.append(
                    {
                        "dataset": name,
                        "teacher": kind,
                        "model": model_name,
                        "seed": seed,
                        **row,
                        **fit.extra,
                    }
                )
        if "n_jobs" in final.get_params():
            final.set_params(n_jobs=-1)
        clock(name, seed, f"measure ({kind})", time.perf_counter() - start)
    return rows, info


# ----------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_const",
        const="quick",
        dest="setting",
        default="full",
        help="smoke run: small data sets, subsampled, 1 seed, few epochs",
    )
    parser.add_argument(
        "--setting", choices=sorted(SETTINGS), dest="setting", help="named setting"
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=sorted(DATASETS),
        help="run these data sets only (default: the setting's)",
    )
    parser.add_argument("--seeds", type=int, help="number of seeds: 0, 1, ..., N-1")
    parser.add_argument(
        "--no-alternatives",
        action="store_true",
        help="skip imodels and hummingbird-ml even when installed",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for <setting>.json/.md/.png (default: benchmarks/results; "
        "with --report, the JSON file's folder)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="JSON",
        help="fit nothing: summarise a saved <setting>.json again and rewrite its "
        "table, plot and summary",
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Run a setting; write ``<setting>.json``, ``.md`` and ``.png`` into ``--out``.

    Parameters
    ----------
    argv : list of str or None
        Command-line arguments; None reads ``sys.argv``.

    Returns
    -------
    result : dict
        What the JSON file holds.
    """
    args = parse_args(argv)
    if args.report is not None:
        return report(args.report, args.out)
    setting = SETTINGS[args.setting]
    overrides = {}
    if args.datasets:
        overrides["datasets"] = tuple(args.datasets)
    if args.seeds is not None:
        overrides["seeds"] = args.seeds
    if args.no_alternatives:
        overrides["alternatives"] = False
    if overrides:
        setting = Setting(**{**asdict(setting), **overrides})
    # One torch thread for training and inference: the 2x64 student is too
    # small to gain from more, and on a busy 2-core machine two threads trained
    # it 4x slower (10 diamonds epochs: 3.8 s against 15.3 s). Latency is
    # single-threaded by design.
    torch.set_num_threads(1)
    versions = optional_versions() if setting.alternatives else {}
    seeds = list(range(setting.seeds))
    started = time.perf_counter()
    command = "python benchmarks/run.py " + " ".join(
        _without_out(sys.argv[1:] if argv is None else argv)
    )
    print(f"setting {setting.name}: {setting.datasets}, seeds {seeds}", flush=True)
    warm_up()

    clock = Clock()
    runs, datasets = [], {}
    for name in setting.datasets:
        for seed in seeds:
            rows, info = run_one(name, seed, setting, versions, clock)
            runs += rows
            datasets[name] = info
    summary = summarise(runs)
    cost = defaultdict(float)
    for part in clock.parts:
        kind = part["part"].split(" (")[0]
        cost[kind] += part["seconds"]
    result = {
        "setting": asdict(setting),
        "command": command.strip(),
        "seeds": seeds,
        "wall_s": time.perf_counter() - started,
        "environment": environment(
            "sklearn_kd", "torch", "skorch", "scikit-learn", "numpy"
        ),
        "optional_packages": versions,
        "teacher_query_timing": "TimedTeacher adapter: wraps the fitted teacher "
        "and times every query the distiller makes inside fit",
        "datasets": datasets,
        "cost_by_part": dict(cost),
        "timings": clock.parts,
        "summary": summary,
        "aggregate": aggregate(summary, runs, list(setting.datasets)),
        "runs": runs,
    }
    result = jsonable(result)
    write(result, args.out or RESULTS_DIR)
    return result


if __name__ == "__main__":
    main()
