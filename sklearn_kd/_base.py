"""``_BaseDistiller``: parameters, the fit pipeline and fast inference.

Data flows one way: validate -> resolve the teacher -> query it once for the
signals the terms need (``_queries.py``) -> pack tensors on the device ->
train the student. The task subclasses only say how targets and teacher
outputs are shaped.
"""

from __future__ import annotations

import copy
import inspect
import time
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
)
from skorch import NeuralNet
from torch import nn

from sklearn_kd._data import concat_rows
from sklearn_kd._inference import _StudentInference
from sklearn_kd._preprocessing import (
    categorical_columns,
    make_auto_preprocessor,
)
from sklearn_kd._queries import _TeacherQueries
from sklearn_kd._student_encoding import _StudentEncoding
from sklearn_kd._utils import (
    draw_seed,
    is_dataframe,
    missing_values_named,
    resolve_device,
    torch_seeded,
)
from sklearn_kd.augmentation import make_transfer_set
from sklearn_kd.losses import DistillationTerm, Objective
from sklearn_kd.students import TensorDataset
from sklearn_kd.students._bins import BIN_SOURCES
from sklearn_kd.students._build import (
    check_hidden_layer_sizes,
    check_student_widths,
    make_student_net,
    resolve_early_stopping,
)
from sklearn_kd.students._encoding import ENCODINGS
from sklearn_kd.students._modules import ACTIVATIONS
from sklearn_kd.teachers import (
    Teacher,
    as_teacher,
    split_ensemble,
)
from sklearn_kd.teachers._resolve import (
    clone_teacher,
    is_unfitted_estimator,
    teacher_allows_nan,
    teacher_members,
)
from sklearn_kd.teachers._route import RouteSchedule, TeacherRoute

_PREDICT_METHODS = ("predict", "predict_proba", "decision_function")


class _BaseDistiller(
    _TeacherQueries, _StudentEncoding, _StudentInference, BaseEstimator, ABC
):
    """Shared machinery of the regressor and the classifier distillers."""

    _parameter_constraints: ClassVar[dict] = {
        "teacher": "no_validation",
        "student": [None, nn.Module, type, NeuralNet],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "beta": [Interval(Real, 0, None, closed="left"), None],
        "terms": [list, None],
        "hidden_layer_sizes": [tuple, list],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "numeric_encoding": [StrOptions(set(ENCODINGS))],
        "n_bins": [StrOptions({"auto"}), Interval(Integral, 2, None, closed="left")],
        "binning": [StrOptions({"auto", *BIN_SOURCES})],
        "preprocessor": [StrOptions({"auto"}), None, HasMethods(["fit", "transform"])],
        "memory": [None, str, HasMethods(["cache"])],
        "teacher_cv": [None, Interval(Integral, 2, None, closed="left"), "cv_object"],
        "teacher_labels": [StrOptions({"in_sample", "oob"})],
        "augment": [
            None,
            StrOptions({"munge", "noise"}),
            HasMethods(["fit", "sample"]),
        ],
        "augment_size": [Interval(Real, 0, None, closed="neither")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: "regression" or "classification"; set by the subclasses.
    _task: str
    #: Name of the task loss in ``losses.TASK_LOSSES``.
    _task_loss: str

    # ------------------------------------------------------------------
    # scikit-learn plumbing: a fitted teacher is data, not a sub-estimator
    # ------------------------------------------------------------------
    def _teacher_is_frozen(self) -> bool:
        """A teacher used as it is (fitted, a module, a callable, a list of those)."""
        return not any(is_unfitted_estimator(m) for m in teacher_members(self.teacher))

    def __sklearn_clone__(self):
        # Like FrozenEstimator: a fitted teacher survives clone as the same
        # object, so GridSearchCV and cross_val_score never refit or copy it.
        params = self.get_params(deep=False)
        new_params = {
            name: clone_teacher(value)
            if name == "teacher"
            else clone(value, safe=False)
            for name, value in params.items()
        }
        new = type(self)(**new_params)
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        return new

    def get_params(self, deep=True):
        """Get parameters of this distiller.

        With ``deep=True`` the result also holds ``student__*`` for a skorch
        template, ``teacher__*`` for an unfitted teacher (a fitted one is used
        as it is and has no searchable parameters) and ``terms__<name>`` /
        ``terms__<name>__<param>`` for each extra term.

        Parameters
        ----------
        deep : bool, default=True
            Include the parameters of contained objects.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        if not deep:
            return params
        if self._teacher_is_frozen():
            params = {k: v for k, v in params.items() if not k.startswith("teacher__")}
        for name, term in _as_term_pairs(self.terms):
            params[f"terms__{name}"] = term
            if hasattr(term, "get_params"):
                for key, value in term.get_params(deep=True).items():
                    params[f"terms__{name}__{key}"] = value
        return params

    def set_params(self, **params):
        """Set parameters, including ``terms__<name>__<param>`` and nested ones.

        Parameters
        ----------
        **params : dict
            Parameter names mapped to their new values.

        Returns
        -------
        self : object
            This distiller.
        """
        if not params:
            return self
        term_params = {
            k: params.pop(k) for k in list(params) if k.startswith("terms__")
        }
        teacher_nested = [k for k in params if k.startswith("teacher__")]
        if teacher_nested and "teacher" not in params and self._teacher_is_frozen():
            raise ValueError(
                f"Cannot set {teacher_nested}: the teacher is fitted (or a module or "
                "a callable) and is used as it is, never refitted. To search the "
                "teacher's parameters, pass an unfitted teacher; the distiller then "
                "fits a clone of it."
            )
        super().set_params(**params)
        for key, value in term_params.items():
            name, _, sub_key = key[len("terms__") :].partition("__")
            pairs = _as_term_pairs(self.terms)
            names = [n for n, _ in pairs]
            if name not in names:
                raise ValueError(
                    f"Invalid parameter {key!r} for {type(self).__name__}: no term "
                    f"named {name!r}; terms are {names}."
                )
            if sub_key:
                pairs[names.index(name)][1].set_params(**{sub_key: value})
            else:
                pairs[names.index(name)] = (name, value)
                self.terms = pairs
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        # NaN in X reaches the teacher as given and the default student
        # encodes it: the distiller takes NaN exactly when its teacher does.
        tags.input_tags.allow_nan = all(
            teacher_allows_nan(m) for m in teacher_members(self.teacher)
        )
        return tags

    def to_deployable(self, device="cpu"):
        """The trained student alone: preprocessing and network, no teacher.

        Parameters
        ----------
        device : str or torch.device, default='cpu'
            Where the deployed network runs.

        Returns
        -------
        DeployedRegressor or DeployedClassifier
            A scikit-learn estimator that predicts exactly what this distiller
            predicts and pickles without the teacher or the training state.
        """
        from sklearn_kd.export import deploy

        return deploy(self, device=device)

    def _forget_fit(self):
        """Drop every fitted attribute, so a failed refit cannot mix two fits."""
        for key in [k for k in vars(self) if k.endswith("_") and not k.endswith("__")]:
            delattr(self, key)

    # ------------------------------------------------------------------
    # Task hooks
    # ------------------------------------------------------------------
    @abstractmethod
    def _encode_targets(self, X, y) -> np.ndarray:
        """Validate ``y`` against ``X``, set target attributes, return targets."""

    @abstractmethod
    def _check_teacher(self, teacher: Teacher) -> None:
        """Raise if the teacher cannot teach this task."""

    @abstractmethod
    def _teacher_targets(self, teacher: Teacher, signals: dict) -> dict:
        """Turn raw teacher outputs into the tensors the terms read."""

    @abstractmethod
    def _main_term(self) -> DistillationTerm:
        """The distillation term chosen by ``loss``, weighted by ``beta``."""

    def _objective_constants(self) -> dict:
        return {}

    # ------------------------------------------------------------------
    # fit
    # ------------------------------------------------------------------
    def _resolve_terms(self) -> list[tuple[str, DistillationTerm]]:
        main = self._main_term()
        main_name = self.loss
        pairs = [(main_name, main)]
        for name, term in _as_term_pairs(self.terms, strict=True):
            if name in ("task", main_name) or name in [n for n, _ in pairs]:
                raise ValueError(
                    f"Term names must be unique and differ from 'task' and the main "
                    f"term {main_name!r}; got {name!r} twice."
                )
            if self._task not in term.tasks:
                raise ValueError(
                    f"The term {name!r} ({type(term).__name__}) applies to "
                    f"{list(term.tasks)}, not to {self._task}."
                )
            pairs.append((name, term))
        for _, term in pairs:
            term.validate()
        return pairs

    def _resolve_teacher(self, X, y, sample_weight):
        """``teacher_``: the teacher, with every unfitted estimator in it fitted."""
        if isinstance(self.teacher, (list, tuple)):
            members, weights = split_ensemble(self.teacher)
            fitted = [self._resolve_member(m, X, y, sample_weight) for m in members]
            return (
                fitted if weights is None else list(zip(fitted, weights, strict=True))
            )
        return self._resolve_member(self.teacher, X, y, sample_weight)

    def _resolve_member(self, teacher, X, y, sample_weight):
        if is_unfitted_estimator(teacher):
            if not any(hasattr(teacher, m) for m in _PREDICT_METHODS):
                raise TypeError(
                    f"The teacher {type(teacher).__name__} has none of "
                    f"{list(_PREDICT_METHODS)}; a teacher must be able to predict."
                )
            # A teacher for the wrong task fails here, not inside its own fit.
            self._check_teacher(as_teacher(teacher))
            fitted = clone(teacher)
            with missing_values_named(f"teacher {type(teacher).__name__}", X):
                if sample_weight is not None and _accepts(fitted.fit, "sample_weight"):
                    fitted.fit(X, y, sample_weight=sample_weight)
                else:
                    fitted.fit(X, y)
            return fitted
        if teacher is None:
            raise TypeError(
                "The 'teacher' parameter is required: pass a fitted model, an "
                "unfitted estimator, a torch.nn.Module or a callable."
            )
        return teacher

    def _fit_preprocessor(self, X, y):
        if self.preprocessor is None:
            if categorical_columns(X):
                raise ValueError(
                    "preprocessor=None needs numeric X, but X has non-numeric "
                    f"columns {categorical_columns(X)}; use preprocessor='auto'."
                )
            return None
        prep = (
            make_auto_preprocessor(X)
            if self.preprocessor == "auto"
            else clone(self.preprocessor)
        )
        return prep.fit(X, y)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, X_unlabeled=None):
        """Distil the teacher into a fresh student on ``(X, y)``.

        The teacher is queried once, in chunks, on the transfer set: ``X`` as
        given (a DataFrame stays a DataFrame), then ``X_unlabeled``. The student
        sees the preprocessed matrix.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Training input.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights of every loss term (and of the teacher's fit, when
            an unfitted teacher supports them). Transfer rows weigh 1.
        X_unlabeled : {array-like, DataFrame} of shape (n_unlabeled, n_features), \
                default=None
            Rows without labels, in the same form as ``X``: the teacher labels
            them and they enter the distillation terms only, never the task
            loss. Inside a Pipeline, route them with metadata routing
            (``sklearn.set_config(enable_metadata_routing=True)`` and
            ``distiller.set_fit_request(X_unlabeled=True)``). Routed rows are
            passed as they are, not through the Pipeline's earlier steps, so
            give them in the form the distiller receives ``X``. Keep their row
            count different from ``X``'s inside cross-validation, which slices
            any fit parameter as long as ``X``.

        Returns
        -------
        self : object
            The fitted distiller.
        """
        self._forget_fit()
        X, y = self._validate_X(X, y, reset=True)
        self._columns_seen_ = X.columns.tolist() if is_dataframe(X) else None
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        extra = self._unlabeled_rows(X, X_unlabeled)
        seed = draw_seed(self.random_state)
        device = resolve_device(self.device)
        y_train = self._encode_targets(X, y)
        terms = self._resolve_terms()

        active = [(name, term) for name, term in terms if term.weight > 0]
        if self.alpha == 0 and not active:
            raise ValueError(
                "Nothing to learn from: alpha=0 and every distillation term has "
                "weight 0. Give alpha, beta or a term a positive weight."
            )
        if self.student is None:
            check_hidden_layer_sizes(self.hidden_layer_sizes)
        if self.teacher_labels == "oob" and self.teacher_cv is not None:
            raise ValueError(
                "teacher_labels='oob' and teacher_cv both replace the teacher's "
                "in-sample outputs on the training rows; choose one."
            )
        self.teacher_ = self._resolve_teacher(X, y, sample_weight)
        adapter = as_teacher(self.teacher_)
        self._check_teacher(adapter)
        required = sorted({signal for _, term in active for signal in term.requires})
        if active:
            missing = [s for s in required if s not in adapter.signals]
            if missing:
                needy = [n for n, t in active if set(t.requires) & set(missing)]
                raise ValueError(
                    f"The teacher {adapter.name} cannot give {missing}, needed by the "
                    f"terms {needy}; it gives {sorted(adapter.signals)}."
                )
        if not active:
            # The from-scratch student: transfer rows would carry no signal.
            extra = None
        elif self.augment is not None:
            synthetic = make_transfer_set(
                self.augment,
                X,
                max(1, round(self.augment_size * len(X))),
                random_state=seed,
            )
            extra = synthetic if extra is None else concat_rows(extra, synthetic)
        X_all = X if extra is None else concat_rows(X, extra)
        n_extra = len(X_all) - len(X)
        start = time.perf_counter()
        store = self._teacher_store(X_all, adapter)
        routes = None
        if isinstance(adapter, TeacherRoute) and self.teacher_labels == "oob":
            raise ValueError(
                "teacher_labels='oob' labels the training rows with one fitted "
                "bagging ensemble's out-of-bag outputs; a TeacherRoute has one "
                "output per checkpoint. Use teacher_labels='in_sample'."
            )
        if isinstance(adapter, TeacherRoute) and required:
            routes = self._query_route(adapter, X_all, required, store)
            # The final checkpoint's outputs: what the terms' own signals
            # (derivatives, features) are taken from. RouteSchedule sets the
            # earliest checkpoint's before the first epoch and moves on.
            signals = {
                k: v[:, -1].numpy().astype(np.float64) for k, v in routes.items()
            }
        else:
            signals = (
                self._query_teacher(adapter, X_all, required, store) if required else {}
            )
            if self.teacher_labels == "oob" and required:
                signals = self._out_of_bag(adapter, signals, len(X))
            signals = self._teacher_targets(adapter, signals)
        if self.teacher_cv is not None and required:
            # Out-of-fold outputs replace the in-sample ones on the labeled rows.
            oof = self._out_of_fold_targets(X, y, required, sample_weight)
            for key, values in oof.items():
                signals[key][: len(X)] = values
        self.teacher_query_seconds_ = time.perf_counter() - start

        self.preprocessor_ = self._fit_preprocessor(X, y)
        Xs = self._student_matrix(X_all)
        self.encoding_, self.bins_source_ = self._encoding_spec(
            adapter, X, Xs, signals, y_train, bool(active), seed
        )
        if self.encoding_ is None and np.isnan(Xs).any():
            j = int(np.flatnonzero(np.isnan(Xs).any(axis=0))[0])
            raise ValueError(
                "X has missing values in column "
                f"{self._student_input_names(Xs.shape[1])[j]!r}; only the default "
                "student (student=None) encodes them. Impute them for a student "
                "of your own, for example with sklearn.impute.SimpleImputer."
            )
        self.early_stopping_ = resolve_early_stopping(
            self.early_stopping,
            y_train,
            stratified=self._task == "classification",
            scheduled=isinstance(adapter, TeacherRoute),
        )
        self.device_ = device
        start = time.perf_counter()
        signals, shared, self.teacher_rows_evaluated_ = self._term_signals(
            active, adapter, X, X_all, signals, Xs.shape[1], seed, device, store
        )
        self.teacher_query_seconds_ += time.perf_counter() - start
        tensors = {"X": torch.from_numpy(Xs)}
        tensors.update(
            {k: torch.as_tensor(v, dtype=torch.float32) for k, v in signals.items()}
        )
        if sample_weight is not None:
            tensors["sample_weight"] = torch.as_tensor(
                np.concatenate([sample_weight, np.ones(n_extra)]), dtype=torch.float32
            )
        if n_extra:
            # Transfer rows get a placeholder target that the mask keeps out of
            # the task loss.
            tensors["labeled"] = torch.cat(
                [torch.ones(len(X)), torch.zeros(n_extra)]
            ).to(torch.float32)
            y_train = np.concatenate(
                [y_train, np.zeros((n_extra, *y_train.shape[1:]), y_train.dtype)]
            )
        tensors = {k: v.to(device) for k, v in tensors.items()}
        y_tensor = torch.as_tensor(y_train).to(device)
        dataset = TensorDataset(tensors, y_tensor)

        constants = {
            **self._objective_constants(),
            **{k: torch.as_tensor(v, dtype=torch.float32) for k, v in shared.items()},
        }
        context = {
            "n_inputs": Xs.shape[1],
            "n_outputs": self._n_student_outputs,
            "shapes": {k: tuple(v.shape[1:]) for k, v in tensors.items()}
            | {k: tuple(v.shape) for k, v in constants.items()},
        }
        objective = Objective(
            self._task_loss, self.alpha, terms, constants=constants, context=context
        )
        parts = ["task"] + [name for name, _ in active]
        with torch_seeded(seed, device):
            net = make_student_net(
                self,
                n_in=Xs.shape[1],
                n_out=self._n_student_outputs,
                objective=objective,
                parts=parts,
                device=device,
                seed=seed,
                early_stopping=self.early_stopping_,
                encoding=self.encoding_,
                stratified=self._task == "classification",
                train_parts=[
                    f"{name}_adversary"
                    for name, term in active
                    if type(term).make_adversary is not DistillationTerm.make_adversary
                ],
                extra_callbacks=[]
                if routes is None
                else [
                    (
                        "route",
                        RouteSchedule(
                            {k: v.to(device) for k, v in routes.items()},
                            adapter.milestones,
                        ),
                    )
                ],
            )
            net.initialize()
            check_student_widths(net.module_, tensors["X"], self._n_student_outputs)
            # partial_fit: train the net just initialised (fit would do it again).
            net.partial_fit(dataset, y_tensor.cpu())
        net.module_.eval()
        # Inference runs on a float64 copy: float32 GEMM kernels block by batch
        # size, so a row's float32 output would change with the rows beside it.
        self._inference_module_ = copy.deepcopy(net.module_).double().eval()
        self.student_ = net
        self.history_ = net.history
        return self

    def _unlabeled_rows(self, X, X_unlabeled):
        """``X_unlabeled`` validated like predict-time input, in ``X``'s form."""
        if X_unlabeled is None:
            return None
        if is_dataframe(X) and not is_dataframe(X_unlabeled):
            raise ValueError(
                "X_unlabeled must be a DataFrame with X's columns, since X is one; "
                f"got {type(X_unlabeled).__name__}."
            )
        if is_dataframe(X_unlabeled) and not is_dataframe(X):
            X_unlabeled = X_unlabeled.to_numpy()
        X_unlabeled, _ = self._validate_X(X_unlabeled, reset=False)
        if is_dataframe(X) and X_unlabeled.columns.tolist() != X.columns.tolist():
            raise ValueError(
                "X_unlabeled must have X's columns in X's order; got "
                f"{X_unlabeled.columns.tolist()} for {X.columns.tolist()}."
            )
        return X_unlabeled


def _as_term_pairs(terms, *, strict=False) -> list:
    """``terms`` as a list of ``(name, term)``; validated when ``strict``."""
    if terms is None or (not strict and not isinstance(terms, (list, tuple))):
        return []
    pairs = []
    for item in terms:
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not isinstance(item[0], str)
            or (strict and not isinstance(item[1], DistillationTerm))
        ):
            if not strict:
                continue
            raise TypeError(
                "The 'terms' parameter must be a list of (name, DistillationTerm) "
                f"pairs, like Pipeline steps; got the item {item!r}."
            )
        pairs.append(item)
    return pairs


def _accepts(func, name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
