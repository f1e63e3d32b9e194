"""What ``verbose`` prints while a distiller fits: the teacher's fit and query,
the columns explained once, one row per epoch ("k/N", the time left), the end
of early stopping; plain text (no colour codes) when stdout is no terminal,
nothing at all with ``verbose=0``."""

import io
import re
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge

from sklearn_kd import DistilledClassifier, DistilledRegressor
from sklearn_kd.students._progress import EpochLog, format_seconds

ESCAPE = "\x1b["


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.1 * rng.normal(size=300)
    return X, y


def _fit(data, **params):
    X, y = data
    settings = {
        "teacher": RandomForestRegressor(n_estimators=5, random_state=0),
        "hidden_layer_sizes": (8,),
        "max_epochs": 6,
        "batch_size": 64,
        "lr": 0.02,
        "random_state": 0,
        "verbose": 1,
        **params,
    }
    return DistilledRegressor(**settings).fit(X, y)


def _epoch_rows(out, total):
    return re.findall(rf"^\s*(\d+)/{total} ", out, flags=re.MULTILINE)


def test_verbose_1_with_early_stopping(data, capsys):
    # One count of bins: one student, one log (n_bins='auto' would train one
    # per count; test_distillers checks that log).
    model = _fit(
        data, max_epochs=60, patience=2, early_stopping=True, lr=0.05, n_bins=16
    )
    out = capsys.readouterr().out
    n = len(model.history_)
    assert n < 60, "the fixture must stop early"
    lines = out.splitlines()
    # The teacher's fit: which teacher, on how many rows, how long.
    assert re.match(
        r"fitting the teacher RandomForestRegressor\(n_estimators=5\) on 300 rows"
        r"\.\.\. \d+(ms|\.\ds)$",
        lines[0],
    )
    # The query: which signals, on how many transfer rows, how long.
    assert re.match(
        r"queried the teacher for prediction on 300 transfer rows, in \d", lines[1]
    )
    # The default student's bins, placed on the forest's split thresholds.
    assert re.match(
        r"binning the student's numeric columns\.\.\. 4 columns on \d+ bins from "
        r"the teacher's split thresholds, \d",
        lines[2],
    )
    # The columns explained once, before the first epoch.
    assert out.count("train_loss = 0.5 * task + 0.5 * hp") == 1
    assert out.count("not the sum of the unweighted columns") == 1
    assert out.count("valid_*: the same on the held-out rows") == 1
    assert "270 rows (30 more held out), 60 epochs at most, batches of 64" in out
    # One row per epoch, "k/60", the last (ended by early stopping) included;
    # the time left is an upper bound while training may still stop.
    assert _epoch_rows(out, 60) == [str(k) for k in range(1, n + 1)]
    first = next(line for line in lines if re.match(r"\s*1/60 ", line))
    assert re.search(r"<= \S+$", first)
    assert re.search(
        r" -$", next(line for line in lines if re.match(rf"\s*{n}/60 ", line))
    )
    # The end: stopped early, and which epoch's weights were restored.
    valid = [row["valid_loss"] for row in model.history_]
    best = int(np.argmin(valid)) + 1
    assert (
        f"stopped early after epoch {n}/60 " in out
        and "valid_loss has not improved for 2 epochs" in out
    )
    if best != n:
        assert f"restored the weights of epoch {best}, the best" in out
    # A * marks every new best valid_loss; no colour codes off a terminal.
    assert ESCAPE not in out
    assert out.count("*") >= 2  # the legend and at least epoch 1


def test_verbose_1_without_early_stopping(data, capsys):
    _fit(data, early_stopping=False, max_epochs=4)
    out = capsys.readouterr().out
    assert _epoch_rows(out, 4) == ["1", "2", "3", "4"]
    assert "valid_" not in out and "<=" not in out and "held out" not in out
    assert re.search(r"^trained 4 epochs in \S+$", out, flags=re.MULTILINE)
    assert ESCAPE not in out


def test_verbose_1_student_from_scratch(data, capsys):
    """A fitted teacher is not fitted again; alpha=1, beta=0 queries nothing."""
    X, y = data
    teacher = Ridge().fit(X, y)
    _fit(data, teacher=teacher, alpha=1.0, beta=0.0, max_epochs=2, n_bins=16)
    out = capsys.readouterr().out
    assert "fitting" not in out
    assert "the teacher is not queried" in out
    assert "bins from the labels" in out
    assert "train_loss = 1 * task" in out
    assert _epoch_rows(out, 2) == ["1", "2"]


def test_verbose_1_teacher_list_and_classifier(capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    DistilledClassifier(
        [
            RandomForestClassifier(n_estimators=3, random_state=0),
            ExtraTreesClassifier(n_estimators=4, random_state=0),
        ],
        max_epochs=2,
        random_state=0,
        verbose=1,
    ).fit(X, y)
    out = capsys.readouterr().out
    assert (
        "fitting 2 teachers (RandomForestClassifier(n_estimators=3), "
        "ExtraTreesClassifier(n_estimators=4)) on 120 rows..."
    ) in out
    assert _epoch_rows(out, 2) == ["1", "2"]


def test_verbose_0_prints_nothing(data, capsys):
    _fit(data, verbose=0, early_stopping=True, patience=1, max_epochs=10)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_verbose_2_off_a_terminal_is_plain(data, capsys):
    """Off a terminal the bar stays off: the same plain lines as verbose=1."""
    _fit(data, verbose=2, max_epochs=3, early_stopping=False)
    captured = capsys.readouterr()
    assert _epoch_rows(captured.out, 3) == ["1", "2", "3"]
    for stream in (captured.out, captured.err):
        assert ESCAPE not in stream and "\r" not in stream


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_2_on_a_terminal_shows_one_bar_over_the_epochs(data, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    _fit(data, verbose=2, max_epochs=3, early_stopping=True, patience=5, n_bins=16)
    out = terminal.getvalue()
    # One bar over the 3 epochs (not over the batches), cleared at the end.
    assert re.search(r"training: +\d+%.*\| ?[0-3]/3 ", out)
    assert "epoch/s" in out
    assert not re.search(r"\d+/5 ", out)  # 270 training rows: 5 batches of 64
    # The epoch rows are still printed, between the bar's refreshes.
    assert _epoch_rows(out.replace("\r", "\n"), 3) == ["1", "2", "3"]
    # On a terminal the best valid_loss is coloured.
    assert ESCAPE + "36m" in out


def test_epoch_log_on_a_plain_skorch_net_with_a_sink(data):
    """Any skorch net takes it; a sink other than print gets every line."""
    import pickle

    import torch
    from skorch import NeuralNetRegressor

    X, y = data
    lines = []
    net = NeuralNetRegressor(
        torch.nn.Linear(4, 1),
        max_epochs=2,
        train_split=None,
        verbose=0,
        callbacks__print_log=EpochLog(sink=lines.append),
    ).fit(X.astype(np.float32), y.reshape(-1, 1).astype(np.float32))
    assert "  train_loss: the training loss, mean over the training rows" in lines
    assert [line.split()[0] for line in lines if "/2 " in line] == ["1/2", "2/2"]
    assert lines[-1].startswith("trained 2 epochs in ")
    pickle.loads(pickle.dumps(net))


def test_fitted_verbose_distiller_pickles(data, capsys):
    import pickle

    model = _fit(data, verbose=2, max_epochs=2)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(data[0]), model.predict(data[0]))


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.0042, "4ms"),
        (0.21, "210ms"),
        (4.25, "4.2s"),
        (42.4, "42s"),
        (80, "1m20s"),
        (7500, "2h05m"),
        (float("nan"), "?"),
    ],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text
