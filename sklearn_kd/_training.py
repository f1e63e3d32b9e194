"""Training the default student, or one per candidate encoding: a mixin of
the distillers (``_BaseDistiller``), step 10 of ``fit`` in ARCHITECTURE.md."""

from __future__ import annotations

import numpy as np
from skorch import NeuralNet

from sklearn_kd._batch import INPUT
from sklearn_kd._fit_run import _FitRun
from sklearn_kd._utils import torch_seeded
from sklearn_kd.students._build import check_student_widths, make_student_net
from sklearn_kd.teachers._route import RouteSchedule


class _StudentTraining:
    """Mixin of the distillers: train the student net (``student_``,
    ``history_``), choosing between candidate encodings on the validation
    rows (``n_bins_``, ``n_bins_search_``)."""

    def _train(self, run: _FitRun) -> None:
        """Train the student (seeded); ``student_``, ``history_``.

        With several candidate encodings (``n_bins='auto'``), one student is
        trained on each, from the same seed and on the same validation rows,
        and the one with the lowest validation loss is kept; ``n_bins_`` and
        ``n_bins_search_`` say which and why.
        """
        from sklearn_kd.students._progress import say

        self.n_bins_search_ = None
        if len(run.encodings) < 2:
            net = self._train_student(run)
        else:
            losses, best = {}, None
            for i, (count, spec) in enumerate(run.encodings):
                self.encoding_ = spec
                if i:
                    # Fresh learned parts of the terms for each student.
                    self._build_objective(run)
                candidate = self._train_student(run)
                losses[count] = float(np.min(candidate.history[:, "valid_loss"]))
                if self.verbose:
                    say(f"n_bins={count}: best validation loss {losses[count]:.5g}")
                if best is None or losses[count] < best[0]:
                    best = (losses[count], count, spec, candidate, run.objective)
            _, self.n_bins_, self.encoding_, net, run.objective = best
            self.n_bins_search_ = losses
            if self.verbose:
                say(f"kept the student with n_bins={self.n_bins_}")
        self.student_ = net
        self.history_ = net.history

    def _train_student(self, run: _FitRun) -> NeuralNet:
        """Build one skorch net on ``encoding_`` and train it (seeded)."""
        callbacks = []
        if run.routes is not None:
            routes = {k: v.to(run.device) for k, v in run.routes.items()}
            callbacks.append(("route", RouteSchedule(routes, run.adapter.milestones)))
        with torch_seeded(run.seed, run.device):
            net = make_student_net(
                self,
                n_in=run.Xs.shape[1],
                n_out=self._n_student_outputs,
                objective=run.objective,
                parts=["task"] + [name for name, _ in run.active],
                device=run.device,
                seed=run.seed,
                early_stopping=self.early_stopping_,
                encoding=self.encoding_,
                stratified=self._task == "classification",
                train_parts=[
                    f"{name}_adversary"
                    for name, term in run.active
                    if term.has_adversary
                ],
                extra_callbacks=callbacks,
            )
            net.initialize()
            check_student_widths(
                net.module_, run.dataset.X[INPUT], self._n_student_outputs
            )
            # partial_fit: train the net just initialised (fit would do it
            # again). DistillationNet lets KeyboardInterrupt through.
            net.partial_fit(run.dataset, run.y_tensor.cpu())
        net.module_.eval()
        return net
