"""Smoke test of the benchmark runner: its quickest setting on one small data set."""

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def _load_runner():
    # benchmarks/ is not a package (pytest would collect its doctests); load the
    # script by path. Registered in sys.modules first: dataclasses look the
    # module up there.
    spec = importlib.util.spec_from_file_location("sklearn_kd_benchmarks", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


@pytest.fixture(scope="module")
def runner():
    # The runner sets OMP_WAIT_POLICY for its own process; keep it out of the
    # environment that later tests (and their subprocesses) see.
    before = os.environ.get("OMP_WAIT_POLICY")
    try:
        yield _load_runner()
    finally:
        if before is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = before


def test_quick_run_writes_finite_results(runner, tmp_path):
    result = runner.main(
        [
            "--quick",
            "--datasets",
            "diabetes",
            "--no-alternatives",
            "--out",
            str(tmp_path),
        ]
    )

    data = json.loads((tmp_path / "quick.json").read_text())
    assert data == json.loads(json.dumps(result))
    assert data["setting"]["name"] == "quick"
    assert list(data["datasets"]) == ["diabetes"]
    assert data["seeds"] == [0]
    models = {(r["teacher"], r["model"]) for r in data["summary"]}
    assert models == {
        (teacher, model)
        for teacher in ("forest", "hgb")
        for model in ("teacher", "scratch", "distilled", "tuned")
    }
    common = ["score", "fidelity", "latency_1_ms", "latency_1000_ms", "size_bytes"]
    common += ["params", "fit_s"]
    student = ["forward_1_ms", "predict_over_forward", "skorch_predict_1_ms"]
    student += ["teacher_query_s", "teacher_query_share"]
    for row in data["summary"]:
        columns = common + (student if row["model"] != "teacher" else [])
        for column in columns:
            value = row[column]
            assert isinstance(value, (int, float)), (row["model"], column, value)
            assert math.isfinite(value), (row["model"], column, value)
        assert row["seeds"] == 1
    # Scratch never queries the teacher; the distilled students do.
    by_model = {(r["teacher"], r["model"]): r for r in data["summary"]}
    assert by_model[("forest", "scratch")]["teacher_query_s"] == 0
    assert by_model[("forest", "distilled")]["teacher_query_s"] > 0
    # The raw per-seed rows are kept next to the medians.
    assert len(data["runs"]) == len(data["summary"])
    assert set(data["aggregate"]) >= {"pairs", "mean_gap_closed_distilled"}

    table = (tmp_path / "quick.md").read_text()
    for header in ("score", "fidelity", "gap closed", "1 row ms", "1k rows ms"):
        assert header in table
    for header in ("forward ms", "1 row / forward", "skorch ms", "size KB", "query %"):
        assert header in table
    assert "distilled (tuned)" in table and "MLP from scratch" in table

    # --report summarises the saved per-seed rows again, refitting nothing.
    again = runner.main(["--report", str(tmp_path / "quick.json")])
    assert again["summary"] == data["summary"]
    assert (tmp_path / "quick.md").read_text() == table


def test_out_folder_is_kept_out_of_the_recorded_command(runner):
    assert runner._without_out(["--quick", "--out", "x", "--seeds", "2"]) == [
        "--quick",
        "--seeds",
        "2",
    ]
    assert runner._without_out(["--out=x"]) == []


def test_encoding_benchmark_quick_run_on_one_set():
    """bench_encoding.py: every model fits on a small set and the report says
    what the issue asks (gap closed, fidelity, size, latency, fit time)."""
    path = RUNNER.parent / "bench_encoding.py"
    spec = importlib.util.spec_from_file_location("sklearn_kd_bench_encoding", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        info, rows = module.run_one("diabetes", 0, quick=True)
        summary = module.summarise({("diabetes", 0): (info, rows)})
        lines = module.verdict(summary)
        text = module.markdown(
            {
                "date": "today",
                "machine": "here",
                "datasets": ["diabetes"],
                "seeds": [0],
                "wall_s": 1.0,
                "summary": summary,
                "verdict": lines,
            }
        )
    finally:
        del sys.modules[spec.name]
    models = {(r["teacher"], r["model"]) for r in rows}
    for name, (_, _, kinds) in module.MODELS.items():
        for kind in kinds or module.TEACHERS:
            assert (kind, name) in models
    for row in rows:
        assert math.isfinite(row["score"]) and row["size_bytes"] > 0
    assert any("Deployed size" in line for line in lines)
    assert "distilled (new default)" in text


@pytest.mark.slow
def test_serving_benchmark_quick_run(tmp_path):
    """bench_serving.py: a quick run times every call on both sets and the
    bulk children, and writes serving.json and serving.md."""
    path = RUNNER.parent / "bench_serving.py"
    spec = importlib.util.spec_from_file_location("sklearn_kd_bench_serving", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        result = module.main(["--quick", "--out", str(tmp_path)])
    finally:
        del sys.modules[spec.name]
    data = json.loads((tmp_path / "serving.json").read_text())
    assert data == json.loads(json.dumps(result))
    assert list(data["datasets"]) == ["diamonds", "friedman1"]
    for dataset in data["datasets"].values():
        assert {r["key"] for r in dataset["rows"]} == set(module.LABELS)
        for row in dataset["rows"]:
            assert math.isfinite(row["median_ms"]) and row["median_ms"] > 0
            assert math.isfinite(row["over_plain_forward"])
    assert {b["key"] for b in data["bulk"]} == set(module.BULK_CALLS)
    for b in data["bulk"]:
        assert b["median_s"] > 0 and b["input_bytes"] > 0
    table = (tmp_path / "serving.md").read_text()
    assert "Regenerate with `python benchmarks/bench_serving.py --quick`" in table
    assert "| met |" in table
