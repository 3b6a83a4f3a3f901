"""example_dags/learnifier_enrollment.py, run end to end against the simulator, twice: it is idempotent.

Between the two runs, example_dags/learnifier_login_links.py sends the people the first run
activated their login links, as a deployment would after each enrollment.
"""

from __future__ import annotations

import stat

from airflow_provider_learnifier.operators.reporting import COLUMNS
from learnifier_simulator import seed
from tests.example_dags.conftest import (
    AIRFLOW3_ONLY,
    PROJECT_EXTERNAL_ID,
    ROSTER_JANUARY,
    complete_course_once_waited_for,
    participants_of,
    read_csv,
    task_states,
    xcom,
)

pytestmark = AIRFLOW3_ONLY

ACTIVITIES = seed.SECURITY_AWARENESS_ACTIVITIES


def test_enrollment_upserts_enrolls_waits_for_completion_and_reports_then_login_links_go_out(
    learnifier_conn, run_example_dag, tmp_path, caplog, capfd
):
    sim = learnifier_conn
    roster = read_csv(ROSTER_JANUARY)
    users_before = len(sim.state.snapshot()["users"])

    with complete_course_once_waited_for(sim, PROJECT_EXTERNAL_ID, participants=len(roster)) as waited:
        dag_run = run_example_dag("learnifier_enrollment", {"report_dir": str(tmp_path)})

    assert dag_run.state == "success", task_states(dag_run)
    # Users: the seeded administrator is on the roster and matched; everyone else was created.
    snapshot = sim.state.snapshot()
    users = {user.get("externalId"): user for user in snapshot["users"]}
    assert len(snapshot["users"]) == users_before + len(roster) - 1
    for row in roster:
        user = users[row["external_id"]]
        assert (user["primaryEmail"], user["firstName"], user["lastName"]) == (
            row["email"],
            row["first_name"],
            row["last_name"],
        )
        assert user["prefs"] == {"locale": row["locale"]}
    assert xcom(dag_run, "upsert_users")["counts"] == {
        "rows": 8,
        "created": 7,
        "maybe_created": 0,
        "updated": 0,
        "unchanged": 1,
        "failed": 0,
    }
    # The project, made from the course design.
    project = next(p for p in snapshot["projects"] if p.get("externalId") == PROJECT_EXTERNAL_ID)
    assert (project["orgId"], project["designId"], project["name"]) == (
        seed.DEMO_ORG_UNIT_ID,
        seed.SECURITY_AWARENESS_DESIGN_ID,
        "Acme Security Awareness 2026",
    )
    assert xcom(dag_run, "create_project")["reused"] is False
    # Everyone enrolled and activated; the sensor waited (deferred) until all completed.
    participants = participants_of(sim, PROJECT_EXTERNAL_ID)
    assert sorted(p["user"]["externalId"] for p in participants) == sorted(r["external_id"] for r in roster)
    assert all(p["activated"] and p["activitiesCompleted"] == ACTIVITIES for p in participants)
    assert xcom(dag_run, "enroll")["counts"]["enrolled"] == 8
    assert xcom(dag_run, "enroll")["counts"]["activated"] == 8
    # The login links DAG, given the participants the run activated, makes each a link and
    # delivers it to the outbox, in no XCom and no log line.
    enrollment = xcom(dag_run, "enroll")
    newly_activated = [enrollment["participant_ids"][person] for person in enrollment["activated"]]
    outbox = tmp_path / "outbox"
    links_run = run_example_dag(
        "learnifier_login_links", {"participant_ids": newly_activated, "outbox": str(outbox)}
    )
    assert links_run.state == "success", task_states(links_run)
    made = [e for e in sim.exchanges if e.path.endswith("/loginlink") and e.status == 200]
    links = {e.path.split("/")[-2]: e.response_json()["link"] for e in made}
    assert sorted(links) == sorted(str(p["id"]) for p in participants)
    delivered = {path.name: path.read_text(encoding="utf-8") for path in outbox.iterdir()}
    assert delivered == {f"participant-{pid}.txt": f"{link}\n" for pid, link in links.items()}
    assert {stat.S_IMODE(path.stat().st_mode) for path in outbox.iterdir()} == {0o600}
    sent = xcom(links_run, "send_login_links")
    assert (sorted(sent["participant_ids"]), sent["count"], sent["failed"]) == (sorted(links), 8, [])
    assert "links" not in sent
    output = capfd.readouterr()  # the task logs of both runs' dag.test()
    # Leaving out Airflow 3.0's own debug echo of each mask_secret call, value included (its
    # dag.test() prints "msg=MaskSecret(value=...)"; see SECURITY.md).
    task_logs = "\n".join(
        line for line in (output.out + output.err).splitlines() if "msg=MaskSecret(" not in line
    )
    assert "Made 8 login link(s)" in task_logs
    assert not [link for link in links.values() if link in task_logs]
    assert waited["polls"] >= 2  # the first check found the course unfinished
    assert "[DAG TEST] running trigger in line" in caplog.text
    progress = xcom(dag_run, "wait_for_completion")
    assert (progress["activated"], progress["completed"], progress["done"]) == (8, 8, True)
    # The report: one row per participant, everyone done.
    report = tmp_path / f"{PROJECT_EXTERNAL_ID}-progress.csv"
    assert xcom(dag_run, "write_report")["path"] == str(report)
    with report.open(encoding="utf-8") as handle:
        assert handle.readline().strip() == ",".join(COLUMNS)
    rows = read_csv(report)
    by_user = {row["user_external_id"]: row for row in rows}
    assert len(rows) == len(by_user) == 8
    for person in roster:
        row = by_user[person["external_id"]]
        participant = next(p for p in participants if p["user"]["externalId"] == person["external_id"])
        assert row["participant_id"] == str(participant["id"])
        assert row["user_email"] == person["email"]
        assert row["project_external_id"] == PROJECT_EXTERNAL_ID
        assert (row["activated"], row["activities_completed"], row["activities_total"]) == (
            "true",
            str(ACTIVITIES),
            str(ACTIVITIES),
        )
        assert float(row["completion_share"]) == 1.0
        assert row["first_access"].endswith("Z") and row["in_error"] == "false"

    # A second run finds everything in place, changes nothing and writes the same report.
    state_before = sim.state.snapshot()
    again = run_example_dag("learnifier_enrollment", {"report_dir": str(tmp_path)})

    assert again.state == "success", task_states(again)
    assert xcom(again, "upsert_users")["counts"]["unchanged"] == 8
    assert xcom(again, "create_project")["reused"] is True
    assert xcom(again, "enroll")["counts"]["already_enrolled"] == 8
    assert xcom(again, "enroll")["counts"]["enrolled"] == 0
    assert xcom(again, "enroll")["activated"] == []  # nobody new: nobody needs a login link
    state_after = sim.state.snapshot()
    for kind in ("users", "projects", "participants"):
        assert len(state_after[kind]) == len(state_before[kind]), kind
    assert xcom(again, "write_report")["path"] == str(report)
    assert read_csv(report) == rows
