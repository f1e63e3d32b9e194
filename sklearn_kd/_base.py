"""``_BaseDistiller``: parameters, the fit pipeline and fast inference.

Data flows one way: validate -> resolve the teacher -> query it once for the
signals the terms need (``_queries.py``) -> pack tensors on the device ->
train the student. The task subclasses only say how targets and teacher
outputs are shaped.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, clone
from skorch import NeuralNet
from torch import nn

from sklearn_kd._batch import INPUT, LABELED, SAMPLE_WEIGHT
from sklearn_kd._cache import check_memory_location
from sklearn_kd._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from sklearn_kd._data import concat_rows
from sklearn_kd._fit_run import (
    _FitRun,
    finite_float32,
    fitted_keys,
)
from sklearn_kd._inference import _StudentInference, trace_for_inference
from sklearn_kd._params import _DistillerParams, term_pairs
from sklearn_kd._preprocessing import categorical_columns, make_auto_preprocessor
from sklearn_kd._queries import _TeacherQueries
from sklearn_kd._student_encoding import _StudentEncoding
from sklearn_kd._training import _StudentTraining
from sklearn_kd._utils import (
    draw_seed,
    is_dataframe,
    resolve_device,
)
from sklearn_kd.augmentation import make_transfer_set
from sklearn_kd.losses import DistillationTerm, Objective
from sklearn_kd.students import TensorDataset
from sklearn_kd.students._bins import BIN_SOURCES
from sklearn_kd.students._build import (
    check_hidden_layer_sizes,
    resolve_early_stopping,
)
from sklearn_kd.students._encoding import ENCODINGS
from sklearn_kd.students._modules import ACTIVATIONS
from sklearn_kd.teachers import Teacher, as_teacher
from sklearn_kd.teachers._resolve import (
    teacher_allows_nan,
    teacher_allows_sparse,
    teacher_members,
)
from sklearn_kd.teachers._route import TeacherRoute


class _BaseDistiller(
    _DistillerParams,
    _TeacherQueries,
    _StudentEncoding,
    _StudentTraining,
    _StudentInference,
    BaseEstimator,
    ABC,
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
        "max_epochs": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
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
        "teacher_labels": [StrOptions({"auto", "in_sample", "oob"})],
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        # NaN in X reaches the teacher as given and the default student
        # encodes it: the distiller takes NaN exactly when its teacher does.
        members = teacher_members(self.teacher)
        tags.input_tags.allow_nan = all(teacher_allows_nan(m) for m in members)
        # Sparse X reaches the teacher as given and the student densifies it.
        tags.input_tags.sparse = all(teacher_allows_sparse(m) for m in members)
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
    # fit: a short list of named steps on a scratch copy, then one commit
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, X_unlabeled=None):
        """Distil the teacher into a fresh student on ``(X, y)``.

        The teacher is queried once, in chunks, on the transfer set: ``X`` as
        given (a DataFrame stays a DataFrame), then ``X_unlabeled``. The student
        sees the preprocessed matrix.

        ``fit`` is transactional: the new model is built aside and replaces
        the fitted state only when every step has succeeded. A fit that raises,
        or that ``KeyboardInterrupt`` (Ctrl-C) stops, leaves a fitted distiller
        predicting exactly as before and an unfitted one unfitted; the
        interrupt is raised again rather than kept as a half-trained model.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training input.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-row weights of every loss term (and of the
            teacher's fit, when an unfitted teacher supports them). Transfer
            rows weigh 1.
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
        from sklearn_kd.students._progress import (
            encoding_step,
            query_line,
            say,
            timed,
        )

        new = self._unfitted_copy()
        run = new._validate_inputs(X, y, sample_weight, X_unlabeled)
        new._resolve_terms(run)
        new._adopt_teacher(run)
        new._build_transfer_set(run)
        new._fit_student_input(run)
        new._query_signals(run)
        if new.verbose:
            say(query_line(new, run))
        with timed(*encoding_step(new)):
            new._choose_encoding(run)
        new._pack_tensors(run)
        new._build_objective(run)
        new._train(run)
        new._make_inference_copy(run)
        self._commit(new)
        return self

    def _unfitted_copy(self):
        """A shallow copy with the parameters and none of the fitted state.

        ``fit`` builds the new model on it, so ``self`` is untouched until
        :meth:`_commit`.
        """
        fitted = set(fitted_keys(self))
        new = object.__new__(type(self))
        new.__dict__.update((k, v) for k, v in vars(self).items() if k not in fitted)
        return new

    def _commit(self, new) -> None:
        """Replace this distiller's fitted state by ``new``'s, all at once."""
        state = {k: getattr(new, k) for k in fitted_keys(new)}
        for key in fitted_keys(self):
            delattr(self, key)
        self.__dict__.update(state)

    def _validate_inputs(self, X, y, sample_weight, X_unlabeled) -> _FitRun:
        """Check ``X``, ``y``, ``sample_weight``, ``X_unlabeled`` and the settings
        that depend on no data; encode the targets."""
        if self.teacher_labels == "oob" and self.teacher_cv is not None:
            raise ValueError(
                "teacher_labels='oob' and teacher_cv both replace the teacher's "
                "in-sample outputs on the training rows; choose one."
            )
        if self.student is None:
            check_hidden_layer_sizes(self.hidden_layer_sizes)
        # A fitted teacher for the wrong task is named before y is parsed, so
        # a regressor given a classifier and string labels says so, not
        # "could not convert string to float".
        self._precheck_teacher()
        if issparse(X) and not self.__sklearn_tags__().input_tags.sparse:
            raise TypeError(
                "Sparse X reaches the teacher as it is, and this teacher does not "
                "say it accepts sparse input (its scikit-learn tags). Pass dense "
                "data: X.toarray(), or OneHotEncoder(sparse_output=False) / "
                "ColumnTransformer(sparse_threshold=0) upstream."
            )
        X, y = self._validate_X(X, y, reset=True)
        self._columns_seen_ = X.columns.tolist() if is_dataframe(X) else None
        check_memory_location(self.memory)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        run = _FitRun(
            X=X,
            y=y,
            sample_weight=sample_weight,
            seed=draw_seed(self.random_state),
            device=resolve_device(self.device),
        )
        run.extra = self._unlabeled_rows(X, X_unlabeled)
        run.y_train = self._encode_targets(X, y)
        return run

    def _resolve_terms(self, run: _FitRun) -> None:
        """The main term (``loss``, weighted by ``beta``) and ``terms``, checked;
        the active ones (positive weight) and the teacher signals they read."""
        main_name = self.loss
        pairs = [(main_name, self._main_term())]
        for name, term in term_pairs(self.terms, strict=True):
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
        run.terms = pairs
        run.active = [(name, term) for name, term in pairs if term.weight > 0]
        if self.alpha == 0 and not run.active:
            raise ValueError(
                "Nothing to learn from: alpha=0 and every distillation term has "
                "weight 0. Give alpha, beta or a term a positive weight."
            )
        run.required = sorted({s for _, term in run.active for s in term.requires})

    def _adopt_teacher(self, run: _FitRun) -> None:
        """``teacher_``: the teacher as given, or fitted clones of its unfitted
        estimators; checked for the task and for the signals the terms need.
        With ``verbose``, says which teacher is fitted and how long it took."""
        from sklearn_kd.students._progress import teacher_fit_message, timed
        from sklearn_kd.teachers._resolve import is_unfitted_estimator

        fitting = [m for m in teacher_members(self.teacher) if is_unfitted_estimator(m)]
        message = (
            teacher_fit_message(fitting, run.X.shape[0])
            if self.verbose and fitting
            else None
        )
        with timed(message):
            self.teacher_ = self._resolve_teacher(run.X, run.y, run.sample_weight)
        adapter = as_teacher(self.teacher_)
        self._check_teacher(adapter)
        missing = [s for s in run.required if s not in adapter.signals]
        if missing:
            needy = [n for n, t in run.active if set(t.requires) & set(missing)]
            raise ValueError(
                f"The teacher {adapter.name} cannot give {missing}, needed by the "
                f"terms {needy}; it gives {sorted(adapter.signals)}."
            )
        if isinstance(adapter, TeacherRoute) and self.teacher_labels == "oob":
            raise ValueError(
                "teacher_labels='oob' labels the training rows with one fitted "
                "bagging ensemble's out-of-bag outputs; a TeacherRoute has one "
                "output per checkpoint. Use teacher_labels='in_sample'."
            )
        run.adapter = adapter

    def _build_transfer_set(self, run: _FitRun) -> None:
        """``X_all``: the labelled rows, then ``X_unlabeled``, then synthetic
        rows from ``augment`` (cached by ``memory``: ``_synthetic_rows``); none
        but ``X`` for a student from scratch."""
        extra = run.extra
        if not run.active:
            # The from-scratch student: transfer rows would carry no signal.
            extra = None
        elif self.augment is not None:
            n_synthetic = max(1, round(self.augment_size * run.X.shape[0]))
            synthetic = self._synthetic_rows(
                run.X,
                n_synthetic,
                run.seed,
                lambda: make_transfer_set(
                    self.augment, run.X, n_synthetic, random_state=run.seed
                ),
            )
            extra = synthetic if extra is None else concat_rows(extra, synthetic)
        run.X_all = run.X if extra is None else concat_rows(run.X, extra)

    def _fit_student_input(self, run: _FitRun) -> None:
        """``preprocessor_`` fitted on ``X``; the student's float32 input ``Xs``
        on every transfer row, checked to be representable."""
        self.preprocessor_ = self._fit_preprocessor(run.X, run.y)
        run.Xs = self._student_matrix(run.X_all)
        overflow = np.isinf(run.Xs).any(axis=0)
        if overflow.any():
            j = int(np.flatnonzero(overflow)[0])
            raise ValueError(
                f"X's column {self._student_input_names(run.Xs.shape[1])[j]!r} "
                "does not fit the student's float32 input: it reaches "
                f"{np.finfo(np.float32).max:.1e} in magnitude after preprocessing. "
                "Rescale that column (for example with a log or a unit change)."
            )

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

    def _query_signals(self, run: _FitRun) -> None:
        """Every teacher signal the active terms read, queried once and timed:
        outputs (per route checkpoint, out of bag or out of fold as asked),
        then what the terms compute themselves (derivatives, features)."""
        start = time.perf_counter()
        self.teacher_labels_ = (
            "out_of_fold" if self.teacher_cv is not None else "in_sample"
        )
        self._query_teacher_signals(run)
        self.teacher_query_seconds_ = time.perf_counter() - start

    def _query_teacher_signals(self, run: _FitRun) -> None:
        X, X_all, adapter, required = run.X, run.X_all, run.adapter, run.required
        run.store = self._teacher_store(X_all, adapter)
        if isinstance(adapter, TeacherRoute) and required:
            run.routes = self._query_route(adapter, X_all, required, run.store)
            # The final checkpoint's outputs: what the terms' own signals
            # (derivatives, features) are taken from. RouteSchedule sets the
            # earliest checkpoint's before the first epoch and moves on.
            signals = {
                k: v[:, -1].numpy().astype(np.float64) for k, v in run.routes.items()
            }
        else:
            signals = (
                self._query_teacher(adapter, X_all, required, run.store)
                if required
                else {}
            )
            if self.teacher_labels != "in_sample" and self.teacher_cv is None:
                signals, used = self._out_of_bag(adapter, signals, X, run.store)
                self.teacher_labels_ = "oob" if used and signals else "in_sample"
            signals = self._teacher_targets(adapter, signals)
        if self.teacher_cv is not None and required:
            # Out-of-fold outputs replace the in-sample ones on the labeled rows.
            oof = self._out_of_fold_targets(X, run.y, required, run.sample_weight)
            for key, values in oof.items():
                signals[key][: X.shape[0]] = values
        run.signals, run.shared, self.teacher_rows_evaluated_ = self._term_signals(
            run.active,
            adapter,
            X,
            X_all,
            signals,
            run.Xs.shape[1],
            run.seed,
            run.device,
            run.store,
        )

    def _choose_encoding(self, run: _FitRun) -> None:
        """``encoding_`` and ``bins_source_`` of the default student (the
        candidate encodings ``n_bins='auto'`` will train), the resolved
        ``early_stopping_`` and the training ``device_``."""
        self.early_stopping_ = resolve_early_stopping(
            self.early_stopping,
            run.y_train,
            stratified=self._task == "classification",
            scheduled=isinstance(run.adapter, TeacherRoute),
            validation_fraction=self.validation_fraction,
        )
        specs, self.bins_source_ = self._encoding_spec(
            run.adapter,
            run.X,
            run.Xs,
            run.signals,
            run.y_train,
            bool(run.active),
            run.seed,
            self._bin_counts(),
            store=run.store,
        )
        run.encodings = []
        # specs is None for a student of your own: nothing to encode.
        for count, spec in specs or []:
            # The cap on the first layer's inputs (or a column with few
            # thresholds) can give two counts the same bins: train them once.
            if all(spec != kept for _, kept in run.encodings):
                run.encodings.append((count, spec))
        self.encoding_ = run.encodings[0][1] if run.encodings else None
        self.n_bins_ = run.encodings[0][0] if self.bins_source_ else None
        if self.encoding_ is None and np.isnan(run.Xs).any():
            j = int(np.flatnonzero(np.isnan(run.Xs).any(axis=0))[0])
            raise ValueError(
                "X has missing values in column "
                f"{self._student_input_names(run.Xs.shape[1])[j]!r}; only the "
                "default student (student=None) encodes them. Impute them for a "
                "student of your own, for example with sklearn.impute.SimpleImputer."
            )
        self.device_ = run.device

    def _pack_tensors(self, run: _FitRun) -> None:
        """One :class:`TensorDataset` on the device: the student's input, the
        teacher's signals (checked finite in float32), weights, the labelled
        mask and the targets."""
        n_labeled, n_extra = run.X.shape[0], run.X_all.shape[0] - run.X.shape[0]
        tensors = {INPUT: torch.from_numpy(run.Xs)}
        for key, values in run.signals.items():
            tensors[key] = finite_float32(values, key, run.adapter.name)
        if run.routes is not None:
            run.routes = {
                k: finite_float32(v, k, run.adapter.name) for k, v in run.routes.items()
            }
        run.shared = {
            k: finite_float32(v, k, run.adapter.name) for k, v in run.shared.items()
        }
        y_train = run.y_train
        if run.sample_weight is not None:
            tensors[SAMPLE_WEIGHT] = torch.as_tensor(
                np.concatenate([run.sample_weight, np.ones(n_extra)]),
                dtype=torch.float32,
            )
        if n_extra:
            # Transfer rows get a placeholder target that the mask keeps out of
            # the task loss.
            tensors[LABELED] = torch.cat(
                [torch.ones(n_labeled), torch.zeros(n_extra)]
            ).to(torch.float32)
            y_train = np.concatenate(
                [y_train, np.zeros((n_extra, *y_train.shape[1:]), y_train.dtype)]
            )
        tensors = {k: v.to(run.device) for k, v in tensors.items()}
        run.y_tensor = torch.as_tensor(y_train).to(run.device)
        run.dataset = TensorDataset(tensors, run.y_tensor)

    def _build_objective(self, run: _FitRun) -> None:
        """The criterion: ``alpha * task loss + sum_k weight_k * term_k``."""
        constants = {
            **self._objective_constants(),
            **run.shared,
        }
        tensors = run.dataset.X
        context = {
            "n_inputs": run.Xs.shape[1],
            "n_outputs": self._n_student_outputs,
            "shapes": {k: tuple(v.shape[1:]) for k, v in tensors.items()}
            | {k: tuple(np.shape(v)) for k, v in constants.items()},
        }
        run.objective = Objective(
            self._task_loss, self.alpha, run.terms, constants=constants, context=context
        )

    def _make_inference_copy(self, run: _FitRun) -> None:
        """``_inference_module_``: the float64 copy that ``predict`` runs."""
        # float32 GEMM kernels block by batch size, so a row's float32 output
        # would change with the rows beside it.
        self._inference_module_ = copy.deepcopy(self.student_.module_).double().eval()
        # The default student's forward as TorchScript graphs (or None).
        self._inference_graphs_ = trace_for_inference(
            self._inference_module_, run.device
        )
