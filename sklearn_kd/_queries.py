"""How a distiller gets what it needs from its teacher, once per fit.

The queries of the teacher's outputs (cached by ``memory``, out of fold with
``teacher_cv``, checkpoint by checkpoint for a route) and of the signals the
terms compute themselves through a :class:`TeacherProbe` (derivatives,
hidden features). A mixin of ``_BaseDistiller``: it reads the distiller's
parameters and task hooks (``_teacher_targets``, ``_resolve_member``).
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import check_cv

from sklearn_kd._batch import LOGITS, PREDICTION, SHARED_PREFIX
from sklearn_kd._cache import (
    caching,
    data_key,
    derived_key,
    memory_call,
    rows_key,
    teacher_fingerprint,
    teacher_store,
    unfingerprintable_reason,
)
from sklearn_kd._utils import take_rows
from sklearn_kd.teachers import as_teacher, split_ensemble
from sklearn_kd.teachers._gradients import input_space
from sklearn_kd.teachers._probe import TeacherProbe
from sklearn_kd.teachers._resolve import (
    fit_member,
    is_plain_callable,
    is_unfitted_estimator,
)
from sklearn_kd.teachers._route import stack_route


class _TeacherQueries:
    """The teacher-facing half of the fit pipeline."""

    def _precheck_teacher(self) -> None:
        """Raise if a fitted teacher cannot teach this task, before ``y`` is read."""
        if self.teacher is None or not self._teacher_is_frozen():
            return
        try:
            adapter = as_teacher(self.teacher)
        except (TypeError, ValueError):
            return  # reported with the whole teacher in _adopt_teacher
        self._check_teacher(adapter)

    def _resolve_teacher(self, X, y, sample_weight):
        """The teacher, with every unfitted estimator in it fitted."""
        if isinstance(self.teacher, (list, tuple)):
            members, weights = split_ensemble(self.teacher)
            fitted = [self._resolve_member(m, X, y, sample_weight) for m in members]
            return (
                fitted if weights is None else list(zip(fitted, weights, strict=True))
            )
        return self._resolve_member(self.teacher, X, y, sample_weight)

    def _resolve_member(self, teacher, X, y, sample_weight):
        return fit_member(teacher, X, y, sample_weight, self._check_teacher)

    def _term_signals(
        self, active, adapter, X, X_all, known, n_student, seed, device, store
    ):
        """Signals the terms compute themselves (teacher derivatives, ...).

        Returns the per-row signals (``known`` included), the shared ones and
        the rows the teacher evaluated for them.
        """
        askers = [term for _, term in active if term.computes_signals]
        if not askers:
            return known, {}, {}
        signal = PREDICTION if self._task == "regression" else LOGITS

        def outputs(rows):
            return self._teacher_targets(adapter, adapter.query(rows, [signal]))[signal]

        def linear_targets(derivatives):
            if self._task == "regression":
                return derivatives / np.reshape(self._target_scale_, (1, -1, 1))
            columns = adapter.class_columns(self.classes_, derivatives.shape[1])
            return derivatives[:, columns, :]

        try:
            space, space_error = (
                input_space(X, self.preprocessor_, n_student),
                None,
            )
        except ValueError as err:
            space, space_error = None, str(err)
        probe = TeacherProbe(
            adapter=adapter,
            X=X_all,
            outputs=outputs,
            linear_targets=linear_targets,
            space=space,
            space_error=space_error,
            task=self._task,
            seed=seed,
            device=device,
            known=known,
            store=store,
        )
        per_row, shared = dict(known), {}
        for term in askers:
            for key, value in term.teacher_signals(probe).items():
                if key.startswith(SHARED_PREFIX):
                    shared[key] = value
                else:
                    per_row[key] = value
        return per_row, shared, dict(probe.rows_evaluated)

    def _query_route(self, route, X_all, required, store):
        """Every checkpoint's targets, stacked: ``{signal: (n, C, width)}``."""

        def compute():
            return [
                self._teacher_targets(c, c.query(X_all, required))
                for c in route.checkpoints
            ]

        return stack_route(store(("route", tuple(required)), compute))

    def _teacher_store(self, X_all, adapter):
        """``store(request, compute)``: ``compute()``, from ``memory`` when set.

        One per fit, for everything asked of the teacher on the transfer rows
        ``X_all`` (outputs, route checkpoints, derivatives, features): the
        teacher's fingerprint (memoised per object, see
        :func:`~sklearn_kd._cache.teacher_fingerprint`) and the rows' hash make
        the key, once, on first use, and each request is cached under that key
        and its own (see :mod:`sklearn_kd._cache`).
        """

        def key():
            return data_key(
                self.teacher_,
                X_all,
                self._targets_key(),
                fingerprint=not is_plain_callable(self.teacher_),
            )

        return teacher_store(
            self.memory,
            key,
            adapter.name,
            reason=lambda: unfingerprintable_reason(self.teacher_),
        )

    def _targets_key(self) -> tuple:
        """What turns teacher outputs into cached targets: part of their key.

        Cached values may be targets: standardised by y's mean and scale, or
        aligned to y's classes.
        """
        return tuple(
            getattr(self, name, None)
            for name in ("_target_mean_", "_target_scale_", "classes_")
        )

    def _synthetic_rows(self, X, n_samples, seed, generate):
        """``generate()``: ``n_samples`` synthetic transfer rows from ``augment``
        fitted on ``X`` with ``seed``.

        With ``memory`` they are cached under the content of ``X``, the
        generator (its name, or the fingerprint of the generator object: its
        parameters), ``n_samples`` and the seed drawn from ``random_state``,
        so a search over other parameters generates them once per training
        set. A generator object that cannot be fingerprinted (it holds a
        Python function) is run at every fit. As with ``Pipeline(memory=...)``,
        a generator that draws from its own unseeded randomness is run once
        and its rows reused.
        """
        key = None
        if caching(self.memory):
            generator, _ = teacher_fingerprint(self.augment)
            if generator is not None:
                key = derived_key("synthetic", generator, rows_key(X), n_samples, seed)
        return memory_call(self.memory, key, generate)

    def _out_of_fold_targets(self, X, y, signals, sample_weight):
        """Teacher targets for the labeled rows from clones fitted on other folds.

        A forest or a boosted ensemble nearly memorises its training rows, so
        its in-sample outputs there carry little beyond ``y``; a clone that did
        not see a row gives that row an honest label.

        With ``memory`` they are cached under the unfitted teacher's and
        ``teacher_cv``'s fingerprints, the content of ``X``, ``y`` and
        ``sample_weight``, the signals and the target encoding: a search over
        other parameters fits the fold clones and queries them once per
        training set. As with ``Pipeline(memory=...)``, a teacher or splitter
        with ``random_state=None`` is then fitted (or split) once and reused.
        """
        if not is_unfitted_estimator(self.teacher):
            raise ValueError(
                "teacher_cv needs an unfitted teacher: the distiller must fit clones "
                "of it on folds of X. A fitted teacher (or a module, a callable, a "
                "list) cannot be refitted; pass teacher_cv=None."
            )
        key = None
        if caching(self.memory):
            teacher, _ = teacher_fingerprint(self.teacher)
            cv, _ = teacher_fingerprint(self.teacher_cv)
            if teacher is not None and cv is not None:
                key = derived_key(
                    "out_of_fold",
                    teacher,
                    cv,
                    self._task,
                    rows_key(X),
                    rows_key(y),
                    rows_key(sample_weight),
                    tuple(signals),
                    self._targets_key(),
                )
        return memory_call(
            self.memory,
            key,
            lambda: self._fit_out_of_fold(X, y, signals, sample_weight),
        )

    def _fit_out_of_fold(self, X, y, signals, sample_weight):
        """:meth:`_out_of_fold_targets` computed: fit a clone per fold, query it."""
        splitter = check_cv(
            self.teacher_cv, y, classifier=self._task == "classification"
        )
        out = None
        for train, test in splitter.split(X, y):
            weight = None if sample_weight is None else sample_weight[train]
            fold_teacher = self._resolve_member(
                self.teacher, take_rows(X, train), take_rows(y, train), weight
            )
            fold_adapter = as_teacher(fold_teacher)
            raw = fold_adapter.query(take_rows(X, test), signals)
            targets = self._teacher_targets(fold_adapter, raw)
            if out is None:
                out = {
                    k: np.empty((X.shape[0], v.shape[1])) for k, v in targets.items()
                }
            for key, values in targets.items():
                out[key][test] = values
        return out

    def _out_of_bag(self, adapter, signals, X, store):
        """``signals`` with the labelled rows' outputs replaced by out-of-bag
        ones, and whether they were (``teacher_labels='auto'`` keeps the
        in-sample outputs of a teacher that has none for ``X``).

        A bagging ensemble's out-of-bag output for a training row averages only
        the members that did not see it: an honest label, at the cost of at
        most one pass of the members over ``X``. A row that every member saw
        keeps its in-sample output.
        """
        required = self.teacher_labels == "oob"
        out = {}
        for key, values in signals.items():
            oob = store(
                ("out_of_bag", key, required, X.shape[0]),
                lambda key=key: adapter.out_of_bag(key, X, required=required),
            )
            if oob is None:
                return signals, False
            if oob.shape[1] != values.shape[1]:
                raise ValueError(
                    f"teacher_labels='oob': the teacher {adapter.name} has "
                    f"{oob.shape[1]} out-of-bag column(s) of {key} but gives "
                    f"{values.shape[1]}."
                )
            values = values.copy()
            known = ~np.isnan(oob).any(axis=1)
            values[: len(oob)][known] = oob[known]
            out[key] = values
        return out, True

    def _query_teacher(self, adapter, X, signals, store):
        """The teacher's signals on ``X``, from ``memory`` when it has them."""
        return store(
            ("outputs", tuple(signals)), lambda: adapter.query(X, list(signals))
        )
