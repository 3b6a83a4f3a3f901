"""The benchmarks of ``bench/`` still run: each one's quick mode, and the table they make.

No timing is asserted (the machine is shared and noisy): only that every benchmark runs to the
end and reports well-formed figures, each with its baseline where it has one.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

import _common as common  # noqa: E402
import profile_cpu  # noqa: E402
import run_all  # noqa: E402

#: Each benchmark, and the measures its result must hold (with a baseline and a target).
EXPECTED = {
    "parse_cost": {"targets": 2},
    "enrollment": {"targets": 4},
    "report_export": {"targets": 4},
    "triggerer": {"targets": 6},
    "simulator_capacity": {"targets": 0},
    "event_watchers": {"targets": 1},
    "rate_limits": {"targets": 13},
    "assignment_policy": {"targets": 4},
    "nudges": {"targets": 5},
}


def _run_quick(name: str, tmp_path: Path) -> dict[str, Any]:
    """Run a benchmark's quick mode in its own process group; its result."""
    out = tmp_path / f"{name}.json"
    process = subprocess.Popen(
        [sys.executable, str(BENCH / f"{name}.py"), "--quick", "--runs", "1", "--json", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=600)
    finally:
        run_all.stop_group(process)  # nothing it started outlives it, even when it runs out of time
    assert process.returncode == 0, stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8"))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# One test per benchmark, so that under xdist (`make test-bench`) each quick run happens once.
@pytest.mark.bench
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_quick_run_reports_well_formed_figures_that_fill_the_table(name: str, tmp_path: Path) -> None:
    result = _run_quick(name, tmp_path)
    assert result["schema"] == common.SCHEMA_VERSION
    assert result["benchmark"] in EXPECTED
    assert result["quick"] is True
    assert result["runs"] == 1
    assert result["metrics"], "no figures"
    for metric in result["metrics"]:
        assert metric["name"] and metric["unit"], metric
        assert _number(metric["ours"]), metric
        if metric["baseline"] is not None:
            assert _number(metric["baseline"]) and metric["baseline_name"], metric
        if metric["ratio"] is not None:
            assert _number(metric["ratio"]) and metric["ratio"] > 0 and metric["ratio_label"], metric
        assert metric["met"] in (True, False, None), metric
        assert (metric["met"] is None) == (not metric["target"]), metric
        for values in metric["samples"].values():
            assert all(_number(value) for value in values), metric
    targets = [metric for metric in result["metrics"] if metric["target"]]
    assert len(targets) == EXPECTED[result["benchmark"]]["targets"]
    assert all(metric["baseline"] is not None for metric in targets)
    if result["benchmark"] == "enrollment":
        assert result["details"]["same_requests_on_both_sides"] is True
        rerun = result["details"]["rerun_requests_per_operation"]
        assert rerun and all(operation.startswith("GET ") for operation in rerun), rerun
    if result["benchmark"] == "nudges":
        # counted, not timed: one participant listing per course, one mail per reminder
        assert result["metrics"][0]["met"] is True, result["metrics"][0]
        assert result["metrics"][1]["met"] is True, result["metrics"][1]
        assert result["metrics"][2]["met"] is True, result["metrics"][2]

    # The result goes into the table of docs/benchmarks.md.
    machine = common.machine_info()
    result = dict(result, wall_seconds=1.0)
    table = run_all.results_markdown([result], machine, quick=True)
    for metric in result["metrics"]:
        assert metric["name"] in table
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        f"# Title\n\nintro\n\n{run_all.START}\nold\n{run_all.END}\n\n## Closing note\n", encoding="utf-8"
    )
    run_all.rewrite(doc, table)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nintro\n")
    assert text.rstrip().endswith("## Closing note")
    assert "\nold\n" not in text and table in text


def test_a_failed_benchmark_is_named_in_the_table() -> None:
    table = run_all.results_markdown(
        [{"benchmark": "triggerer", "error": "exited with 1", "wall_seconds": 1.0}],
        common.machine_info(),
        False,
    )
    assert "triggerer: **failed** (exited with 1)" in table


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # killed and not yet reaped by its new parent: gone too


def test_a_benchmark_out_of_time_is_stopped_with_every_process_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    (tmp_path / "stuck.py").write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path)

    result = run_all.run_benchmark("stuck", False, None, tmp_path / "stuck.json", timeout=5)

    assert result["error"] == "took more than 5 s"
    grandchild = int(pid_file.read_text(encoding="utf-8"))
    for _ in range(100):
        if not _running(grandchild):
            break
        time.sleep(0.05)
    assert not _running(grandchild), "the benchmark's own child process was left running"


def test_profiles_are_summarized_per_process(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        'process 1:"python bench/enrollment.py";<module> (/x/bench/enrollment.py:1);'
        "_request (/x/airflow_provider_learnifier/hooks/learnifier.py:400);"
        "read (/usr/lib/python3.11/ssl.py:10) 30\n"
        'process 1:"python bench/enrollment.py";process 2:"python /x/bench/_simserver.py {}";'
        "dispatch (/x/simulator/learnifier_simulator/dispatch.py:5) 10\n",
        encoding="utf-8",
    )
    summary = profile_cpu.summarize(raw, rate=100)
    assert "benchmark process (client): 0.30 CPU s" in summary
    assert "simulator process: 0.10 CPU s" in summary
    assert "_request (learnifier.py)" in summary
