"""scripts/demo.py, what ``make demo`` runs, end to end in a subprocess; and its clean-up on Ctrl-C.

The demo's last phase runs the event-driven example on a real Airflow 3 (it needs a triggerer):
one certificate per new hire who completes the onboarding course while its asset watcher runs.

The demo runs in an environment without the test session's Airflow settings, as from a shell.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from scripts.airflow_deployment import airflow_processes
from tests.example_dags.conftest import AIRFLOW3_ONLY, REPO, read_csv

# Runs every example DAG through Airflow in a subprocess: minutes, so a stage of its own (make test-demo).
pytestmark = [AIRFLOW3_ONLY, pytest.mark.demo]

DEMO = REPO / "scripts" / "demo.py"


def shell_environment() -> dict[str, str]:
    """This process's environment without what the test session set for Airflow and pytest."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "PYTEST", "LEARNIFIER"))
    }


def listening(base_url: str) -> bool:
    address = urlsplit(base_url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=2):
            return True
    except OSError:
        return False


def printed(output: str, label: str) -> str:
    match = re.search(rf"^{label}\s*(\S+)", output, re.MULTILINE)
    assert match, f"the demo did not print {label!r}:\n{output}"
    return match.group(1)


def test_demo_runs_every_example_dag_and_prints_the_reports(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DEMO), "--output", str(tmp_path)],
        env=shell_environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,  # the assignment policy phase adds two Airflow runs (about 2 minutes)
    )
    output = result.stdout

    assert result.returncode == 0, output[-5000:] + result.stderr[-5000:]
    for dag_id in (
        "learnifier_quickstart",
        "learnifier_enrollment",
        "learnifier_login_links",
        "learnifier_offboarding",
        "learnifier_participant_completion",
        "learnifier_org_unit_move",
        "learnifier_close_course",
        "learnifier_progress_report",
        "learnifier_progress_summary",
        "learnifier_nudges",
    ):
        assert re.search(rf"^  {dag_id}: success \(\d+ s\)$", output, re.MULTILINE), dag_id
    # The assignment policy: January's export planned and applied, March's planned; both printed.
    for month in ("January", "March"):
        assert re.search(rf"^  learnifier_assignment_policy \({month}\): success", output, re.MULTILINE)
        assert f"Assignment plan for {month}'s HR export" in output
    march = output.split("Assignment plan for March's HR export", 1)[1]
    assert re.search(r"^  acme-code-of-conduct-2026 +add  1  activate  0  remove  2  keep  6$", march, re.M)
    assert re.search(r"^      - E2007$", march, re.MULTILINE)
    # The completion wait ended because the demo let people complete the course, check by check.
    # How many complete per printed step depends on how the sensor's checks fall between the
    # demo's looks at the simulator; what must hold is a rising count that ends with everyone.
    steps = [
        (int(done), int(total))
        for done, total in re.findall(
            r"^    \[demo\] (\d+) of (\d+) participants of 'Acme Security Awareness 2026' "
            r"have completed the course$",
            output,
            re.MULTILINE,
        )
    ]
    assert len(steps) >= 2, output
    # Progress starts once the whole roster is enrolled: never "1 of 1" while enrolling.
    assert {total for _, total in steps} == {8}, output
    assert steps[-1] == (8, 8)
    assert [done for done, _ in steps] == sorted({done for done, _ in steps})
    # The new hire's wait ended the same way.
    assert re.search(
        r"^    \[demo\] 1 of 1 participants of 'Acme Onboarding 2026' have completed the course$",
        output,
        re.MULTILINE,
    ), output

    reports = tmp_path / "reports"
    enrollment = Path(printed(output, "  enrollment progress:"))
    record = Path(printed(output, "  new hire's record:"))
    daily = Path(printed(output, "  daily progress report:"))
    summary = Path(printed(output, "  completion per project:"))
    assert {enrollment.parent, daily.parent, summary.parent} == {reports}
    assert record == reports / "training-records" / "E1009-acme-onboarding-2026.json"
    assert json.loads(record.read_text(encoding="utf-8"))["activities_completed"] == 5
    # Before the offboarding: the whole January roster, everyone done.
    enrolled = read_csv(enrollment)
    assert len(enrolled) == 8
    assert {row["completion_share"] for row in enrolled} == {"1.0"}
    # After it: two people left the course; the new hire completed onboarding; the quickstart's
    # two have not started.
    daily_rows = read_csv(daily)
    assert sorted(
        (row["project_name"], row["user_external_id"])
        for row in daily_rows
        if row["project_name"].startswith("Acme")
    ) == [
        ("Acme Onboarding 2026", "E1009"),
        *(
            ("Acme Security Awareness 2026", person)
            for person in ("E1002", "E1003", "E1005", "E1006", "E1008", "acme-admin")
        ),
    ]
    assert len(daily_rows) == 9
    assert [
        (
            row["project_name"],
            row["participants"],
            row["activated"],
            row["completed"],
            row["completion_share"],
        )
        for row in read_csv(summary)
    ] == [
        ("Onboarding (quickstart)", "2", "2", "0", "0.0"),
        ("Acme Security Awareness 2026", "6", "6", "6", "1.0"),
        ("Acme Onboarding 2026", "1", "1", "1", "1.0"),
    ]
    table = output[output.index("Completion per project") :]
    assert re.search(r"Acme Security Awareness 2026\s+6\s+6\s+6\s+100%", table)
    assert re.search(r"Acme Onboarding 2026\s+1\s+1\s+1\s+100%", table)
    assert re.search(r"Onboarding \(quickstart\)\s+2\s+2\s+0\s+0%", table)
    # The table's 6 after "8 of 8" is explained: the offboarding removed two.
    assert re.search(
        r"'Acme Security Awareness 2026' has 2 participant\(s\) fewer than it had at the enrollment: "
        r"learnifier_offboarding removed",
        table,
    ), table
    # The event-driven example ran on Airflow with a triggerer: one certificate per new hire who
    # completed the onboarding course while its watcher ran, none twice. E1009, who completed it
    # before (learnifier_participant_completion), is the watcher's baseline: no certificate.
    assert re.search(
        r"^  learnifier_on_completion: success, \d+ runs wrote 3 certificates \(\d+ s\)$",
        output,
        re.MULTILINE,
    ), output
    certified = re.findall(
        r"^  (\S+) completed 'acme-onboarding-2026' \(participant (\d+)\): (\S+)$", output, re.MULTILINE
    )
    assert sorted(employee for employee, _, _ in certified) == ["E1010", "E1011", "E1012"]
    certificates = Path(printed(output, "  certificates:"))
    assert certificates == reports / "certificates"
    assert sorted(certificates.iterdir()) == sorted(Path(path) for _, _, path in certified)
    records = [json.loads(Path(path).read_text(encoding="utf-8")) for _, _, path in certified]
    for (employee, participant, path), record in zip(certified, records, strict=True):
        assert record["participation_external_id"] == employee
        assert record["participant_id"] == participant
        assert record["project_external_id"] == "acme-onboarding-2026"
        assert record["progress"]["share"] == 1.0
        assert Path(path).name == f"{quote(record['dedupe_key'], safe='')}.json"
    assert len({record["dedupe_key"] for record in records}) == 3
    # The nudges example: of the quickstart's two, one never started and one started and sees
    # their access end; each got one reminder by mail, and the at-risk page lists both.
    assert "    [demo] weeks pass: 1 have not started, 1 see access end\n" in output
    assert re.search(
        r"^  learnifier_nudges: 2 reminder mail\(s\) went out \(SMTP on 127\.0\.0\.1:\d+\)$",
        output,
        re.MULTILINE,
    ), output
    page = Path(printed(output, "  at-risk page:"))
    assert page.parent == reports and page.name.startswith("learnifier-at-risk-")
    at_risk = read_csv(page.with_suffix(".csv"))
    assert sorted(row["states"] for row in at_risk if row["states"]) == ["expiring", "not_started"]
    assert all(row["user_email"] in page.read_text(encoding="utf-8") for row in at_risk if row["states"])
    # The simulator is stopped and the throwaway Airflow home removed.
    assert not listening(printed(output, "Learnifier simulator at"))
    assert not Path(printed(output, r"Airflow home \(removed at the end\):")).exists()


def test_ctrl_c_stops_the_demo_the_simulator_and_airflow(tmp_path):
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--output", str(tmp_path)],
        env=shell_environment(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell runs it in the foreground
        # Ctrl-C as in an interactive shell, even when this test runs in a background job, whose
        # children inherit an ignored SIGINT (then Python never raises KeyboardInterrupt).
        preexec_fn=_default_sigint,
    )
    try:
        lines = []
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Running learnifier_quickstart"):
                break  # an `airflow dags test` is running now
        base_url = printed("".join(lines), "Learnifier simulator at")
        airflow_home = Path(printed("".join(lines), r"Airflow home \(removed at the end\):"))
        assert listening(base_url) and airflow_home.is_dir()

        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        _, errors = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()

    assert demo.returncode == 130, errors[-3000:]
    assert "demo interrupted" in errors
    assert not listening(base_url)
    assert not airflow_home.exists()
    assert group_ends(demo.pid, within=10), "a process of the demo outlived it"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def group_ends(group: int, within: float) -> bool:
    """Wait until no process of the process group is left; tell whether that happened in time."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_sigterm_in_the_event_driven_phase_stops_airflow(tmp_path):
    """The phase's Airflow (its own process groups) ends with it, and its folders go with the demo's."""
    driver = f"""
import signal, sys, tempfile
from pathlib import Path
sys.path.insert(0, {str(DEMO.parent)!r})
import demo
from learnifier_simulator import LearnifierSimulator
signal.signal(signal.SIGTERM, demo._terminate)
with tempfile.TemporaryDirectory(dir={str(tmp_path)!r}) as home, LearnifierSimulator(seed="demo") as sim:
    print("Airflow home", home, flush=True)
    demo.run_event_driven(sim, Path(home), Path(home) / "certificates", Path(home) / "logs")
"""
    phase = subprocess.Popen(
        [sys.executable, "-c", driver],
        env=shell_environment(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert phase.stdout is not None
        for line in phase.stdout:
            lines.append(line)
            if "has completed" in line:
                break  # Airflow runs: the watcher polls, and a run may be starting
        home = Path(printed("".join(lines), "Airflow home"))
        assert airflow_processes(home / "deployment")

        phase.send_signal(signal.SIGTERM)
        _, errors = phase.communicate(timeout=60)
    finally:
        if phase.poll() is None:
            phase.kill()
            phase.wait()

    assert phase.returncode == 143, "".join(lines) + errors[-3000:]
    assert not home.exists()
    assert airflow_processes(home / "deployment") == []
