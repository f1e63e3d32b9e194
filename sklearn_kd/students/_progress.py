"""What a distiller prints while it fits (``verbose``): plain lines a user reads.

``verbose=1`` says when the teacher is fitted and queried (the distiller calls
:func:`say` with :func:`teacher_fit_message` and :func:`query_line`), explains
the logged columns once, then prints one row per epoch (:class:`EpochLog`,
which replaces skorch's ``PrintLog``): the epoch out of ``max_epochs``, the
logged losses, the epoch's duration and an estimate of the time left; and,
when early stopping ends training, which epoch's weights were restored.
``verbose=2`` adds one progress bar over the epochs on a terminal.

Nothing here writes colour codes unless standard output is a terminal.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from numbers import Number

from skorch.callbacks import Callback, EarlyStopping

#: History keys that are not printed as columns.
_SKIPPED = ("epoch", "dur", "batches")
_CYAN, _END = "\x1b[36m", "\x1b[0m"
_VALUE_WIDTH = 10


def say(text: str, *, end: str = "\n") -> None:
    """Print ``text`` to standard output and flush it (a log file sees it now)."""
    print(text, end=end, flush=True)


def format_seconds(seconds: float) -> str:
    """A duration as a person says it: ``210ms``, ``4.2s``, ``1m20s``, ``2h05m``."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{1000 * seconds:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def describe_model(model) -> str:
    """A short name for an estimator: its class, its ensemble size, its steps."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        inner = " -> ".join(type(step).__name__ for _, step in steps[:-1])
        last = describe_model(steps[-1][1])
        return f"Pipeline({inner} -> {last})" if inner else f"Pipeline({last})"
    name = type(model).__name__
    n = getattr(model, "n_estimators", None)
    if isinstance(n, int) and not isinstance(n, bool):
        return f"{name}(n_estimators={n})"
    return name


def teacher_fit_message(models, n_rows: int) -> str:
    """``fitting the teacher X on N rows...``: said before the fit, without an
    end of line, so that the fit's duration completes the line."""
    names = ", ".join(describe_model(m) for m in models)
    what = (
        f"the teacher {names}"
        if len(models) == 1
        else f"{len(models)} teachers ({names})"
    )
    return f"fitting {what} on {n_rows:,} rows..."


def query_line(est, run) -> str:
    """The line said after the teacher's query: which signals, on how many
    rows, how long (``est.teacher_query_seconds_``).

    Parameters
    ----------
    est : DistilledRegressor or DistilledClassifier
        The distiller being fitted, just after its query step.
    run : _FitRun
        That fit's data: the labelled rows ``X``, the transfer rows ``X_all``
        and the ``required`` signals.
    """
    rows_evaluated = {
        k: v for k, v in getattr(est, "teacher_rows_evaluated_", {}).items() if v
    }
    if not run.required and not getattr(est, "teacher_rows_evaluated_", None):
        return (
            "the teacher is not queried: no distillation term is active "
            "(the student learns from the labels only)"
        )
    n_labeled, n_transfer = run.X.shape[0], run.X_all.shape[0]
    rows = f"{n_transfer:,} transfer rows"
    if n_transfer > n_labeled:
        rows += f" ({n_labeled:,} labelled + {n_transfer - n_labeled:,} more)"
    signals = ", ".join(run.required) or "the terms' own signals"
    line = f"queried the teacher for {signals} on {rows}"
    if run.required and est.teacher_cv is not None:
        line += f", out of fold on the labelled rows (teacher_cv={est.teacher_cv!r})"
    elif run.required and est.teacher_labels == "oob":
        line += ", out of bag on the labelled rows"
    if rows_evaluated:
        counted = ", ".join(f"{k}: {v:,}" for k, v in rows_evaluated.items())
        line += f"; rows evaluated for the terms' own signals: {counted}"
    return f"{line}, in {format_seconds(est.teacher_query_seconds_)}"


_BIN_SOURCES = {
    "splits": "the teacher's split thresholds",
    "outputs": "the teacher's outputs",
    "labels": "the labels",
    "quantile": "quantiles of X",
}


def encoding_step(est):
    """``(message, outcome)`` for :func:`timed` around the step that bins the
    default student's numeric columns (it reads a forest's thresholds: seconds
    for hundreds of trees); ``(None, None)`` when nothing is said."""
    if not (
        est.verbose
        and est.student is None
        and est.numeric_encoding == "piecewise_linear"
    ):
        return None, None

    def outcome():
        spec = getattr(est, "encoding_", None)
        if spec is None or not spec.columns:
            return "no column binned"
        source = _BIN_SOURCES.get(est.bins_source_, est.bins_source_)
        if est.n_bins == "auto" and est.early_stopping_:
            # Several students follow, one per bin count (_train says which).
            return (
                f"{len(spec.columns)} columns, bins from {source}: a student for "
                "each count of bins, the best on the validation rows kept"
            )
        n_bins = sum(len(edges) - 1 for edges in spec.edges)
        return f"{len(spec.columns)} columns on {n_bins} bins from {source}"

    return "binning the student's numeric columns...", outcome


@contextlib.contextmanager
def timed(message, outcome=None):
    """Say ``message`` (no end of line), run the block, end the line with
    ``outcome()`` (when given) and the block's duration, or ``failed``.
    Nothing at all when ``message`` is None."""
    if message is None:
        yield
        return
    say(message, end="")
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        say(" failed")
        raise
    took = format_seconds(time.perf_counter() - start)
    say(f" {outcome()}, {took}" if outcome is not None else f" {took}")


def _format_value(value) -> str:
    if isinstance(value, bool) or value is None:
        return "+" if value else ""
    if not isinstance(value, Number):
        return str(value)
    value = float(value)
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4f}"
    return f"{value:.3e}"


class EpochLog(Callback):
    """Training progress for people, in place of skorch's ``PrintLog``.

    Before the first epoch it says what is trained and what each column
    means (``train_loss`` is the weighted objective, so it is not the sum of
    the unweighted parts printed after it); then one row per epoch: the epoch
    out of ``max_epochs``, the logged columns (a ``*`` marks the best
    ``valid_loss`` so far, the epoch early stopping would restore), the
    epoch's duration and the time left (the mean epoch duration so far times
    the epochs left; an upper bound, ``<=``, when early stopping may end
    training sooner). When early stopping ends training it prints the last
    epoch and says which epoch's weights were restored.

    Prints only when the net's ``verbose`` is set and the sink is ``print``
    (as skorch's ``PrintLog``); any other sink gets every line. Colour codes
    only when the sink is ``print`` and standard output is a terminal.

    Parameters
    ----------
    sink : callable, default=print
        Receives each line.
    bar : bool, default=False
        Also show one progress bar over the epochs (``tqdm``), on a terminal
        only.
    """

    def __init__(self, sink=print, bar=False):
        self.sink = sink
        self.bar = bar

    def initialize(self):
        self.bar_ = None
        return self

    def __getstate__(self):
        # A live progress bar does not pickle; a fitted net has none.
        state = dict(self.__dict__)
        state["bar_"] = None
        return state

    # -- callbacks ---------------------------------------------------------
    def on_train_begin(self, net, **kwargs):
        self.start_ = None
        self.first_epoch_ = len(net.history) + 1
        self.columns_ = None
        self.printed_ = 0
        self.tty_ = self.sink is print and _isatty(sys.stdout)
        self.stopper_ = next(
            (
                cb
                for _, cb in getattr(net, "callbacks_", [])
                if isinstance(cb, EarlyStopping)
            ),
            None,
        )
        self.bar_ = None
        if self.bar and self.tty_ and net.verbose:
            from tqdm.auto import tqdm

            self.bar_ = tqdm(
                total=net.max_epochs,
                unit="epoch",
                desc="training",
                file=sys.stdout,
                leave=False,
                dynamic_ncols=True,
            )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if self.start_ is None:
            self.start_ = time.perf_counter()
            for line in self._explanation(net, dataset_train, dataset_valid):
                self._sink(line, net)

    def on_epoch_end(self, net, **kwargs):
        self._print_epoch(net)
        if self.bar_ is not None:
            self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        # EarlyStopping raises before this callback's on_epoch_end (PrintLogs
        # run last): the epoch that ended training is printed here.
        if self.printed_ < self._done(net):
            self._print_epoch(net, last=True)
        self._close_bar()
        for line in self._ending(net):
            self._sink(line, net)

    # -- lines ---------------------------------------------------------------
    def _explanation(self, net, dataset_train, dataset_valid):
        n_train = _length(dataset_train)
        n_valid = _length(dataset_valid)
        rows = f"{n_train:,} rows" if n_train is not None else "the rows"
        if n_valid:
            rows += f" ({n_valid:,} more held out)"
        yield (
            f"training the student on {rows}, {net.max_epochs} epochs at most, "
            f"batches of {net.batch_size}; the columns:"
        )
        objective = getattr(net, "criterion_", None)
        alpha = getattr(objective, "alpha", None)
        terms = getattr(objective, "terms", None)
        if alpha is None or terms is None:
            yield "  train_loss: the training loss, mean over the training rows"
        else:
            active = [(name, term.weight) for name, term in terms if term.weight > 0]
            parts = ([f"{alpha:g} * task"] if alpha > 0 else []) + [
                f"{weight:g} * {name}" for name, weight in active
            ]
            yield (
                f"  train_loss = {' + '.join(parts)}: the weighted objective "
                "(not the sum of the unweighted columns after it)"
            )
            yield (
                "  train_task: the task loss on the labelled rows, unweighted"
                + (" (measured, not trained on: alpha=0)" if alpha == 0 else "")
            )
            if active:
                names = ", ".join(f"train_{name}" for name, _ in active)
                yield f"  {names}: the distillation terms, unweighted, on every row"
            adversarial = [
                f"train_{name}_adversary"
                for name, term in terms
                if term.weight > 0 and getattr(term, "has_adversary", False)
            ]
            if adversarial:
                yield (
                    f"  {', '.join(adversarial)}: the adversaries' own losses, "
                    "not part of train_loss"
                )
        if n_valid:
            yield (
                "  valid_*: the same on the held-out rows, which the student "
                "never trains on"
            )
        stopper = self.stopper_
        if stopper is not None:
            yield (
                f"  * the best {stopper.monitor} so far; early stopping ends training "
                f"after {stopper.patience} epochs without a better one"
                + (
                    " and restores the best epoch's weights"
                    if stopper.load_best
                    else ""
                )
            )
        yield (
            "  dur: the epoch's time; left: the mean epoch time times the epochs left"
            + (" (<=: early stopping may end sooner)" if stopper else "")
        )

    def _done(self, net) -> int:
        return len(net.history) - self.first_epoch_ + 1

    def _print_epoch(self, net, *, last=False):
        row = net.history[-1]
        done = self._done(net)
        total = net.max_epochs
        if self.columns_ is None:
            self.columns_ = _columns(row)
            self.epoch_width_ = max(len(f"{total}/{total}"), len("epoch"))
            header = [f"{'epoch':>{self.epoch_width_}}"]
            header += [f"{c:>{_width(c)}} " for c in self.columns_]
            self._sink(" ".join([*header, f"{'dur':>6}", "left"]), net)
        best = self.stopper_.monitor if self.stopper_ is not None else None
        cells = [f"{f'{done}/{total}':>{self.epoch_width_}}"]
        for column in self.columns_:
            text = _format_value(row.get(column))
            mark = column == best and bool(row.get(f"{column}_best"))
            if mark and self.tty_:
                text = f"{_CYAN}{text}{_END}"
            cells.append(_rjust(text, _width(column)) + ("*" if mark else " "))
        cells.append(f"{format_seconds(row.get('dur', math.nan)):>6}")
        if last or done >= total:
            cells.append("-")
        else:
            elapsed = time.perf_counter() - self.start_
            left = format_seconds((total - done) * elapsed / done)
            cells.append(f"<= {left}" if self.stopper_ is not None else left)
        self._sink(" ".join(cells), net)
        self.printed_ = done

    def _ending(self, net):
        stopper = self.stopper_
        done = self._done(net)
        took = format_seconds(
            time.perf_counter() - (self.start_ or time.perf_counter())
        )
        stopped = stopper is not None and stopper.misses_ >= stopper.patience
        if stopped and done < net.max_epochs:
            line = (
                f"stopped early after epoch {done}/{net.max_epochs} ({took}): "
                f"{stopper.monitor} has not improved for {stopper.patience} epochs"
            )
        else:
            line = f"trained {done} epochs in {took}"
        if stopper is not None and stopper.load_best:
            best = stopper.best_epoch_ - self.first_epoch_ + 1
            value = _format_value(
                _history_value(net, stopper.best_epoch_, stopper.monitor)
            )
            if best != done:
                line += (
                    f"; restored the weights of epoch {best}, the best "
                    f"({stopper.monitor} {value})"
                )
            else:
                line += f"; the last epoch is the best ({stopper.monitor} {value})"
        yield line

    # -- output --------------------------------------------------------------
    def _sink(self, text, net):
        if self.sink is not print:
            self.sink(text)
            return
        if not net.verbose:
            return
        if self.bar_ is not None:
            self.bar_.write(text, file=sys.stdout)
        else:
            print(text)
        sys.stdout.flush()

    def _close_bar(self):
        if self.bar_ is not None:
            self.bar_.close()
            self.bar_ = None


def _history_value(net, epoch, key):
    """``key`` in epoch ``epoch`` (1-based, as skorch counts) of the history."""
    for row in net.history:
        if row.get("epoch") == epoch:
            return row.get(key)
    return None


def _width(column: str) -> int:
    return max(len(column), _VALUE_WIDTH)


def _columns(row) -> list[str]:
    """The printed columns, in the order train_*, valid_*, others; loss first."""
    keys = [
        k
        for k in row
        if k not in _SKIPPED
        and not k.endswith("_best")
        and not k.endswith("_batch_count")
        and not k.startswith("event_")
    ]
    groups = {"train": [], "valid": [], "other": []}
    for key in keys:
        prefix = key.split("_", 1)[0]
        groups[prefix if prefix in ("train", "valid") else "other"].append(key)
    ordered = []
    for prefix in ("train", "valid"):
        loss = f"{prefix}_loss"
        ordered += [loss] if loss in groups[prefix] else []
        ordered += [k for k in groups[prefix] if k != loss]
    return ordered + groups["other"]


def _rjust(text: str, width: int) -> str:
    """Right-justify ``text`` by its visible width (colour codes take none)."""
    visible = len(text.replace(_CYAN, "").replace(_END, ""))
    return " " * max(0, width - visible) + text


def _length(dataset):
    if dataset is None:
        return None
    try:
        return len(dataset)
    except TypeError:
        return None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
