"""LearnifierEnrollOperator and LearnifierLoginLinkOperator against the simulator.

The DAG tests run the DAGs of ``tests/dags/operators_enroll.py`` through real task execution,
inputs from params and XCom, and check the simulator's state and the JSON in XCom. The few
unit tests call ``execute()`` for what a DAG run cannot show (the exception raised).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import (
    LearnifierEnrollmentError,
    LearnifierInputError,
    LearnifierMassRemovalError,
    LearnifierNotFoundError,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators._bulk import Cancelled
from airflow_provider_learnifier.operators.participants import (
    ENROLLMENT_SUMMARY_XCOM_KEY,
    LearnifierEnrollOperator,
    LearnifierLoginLinkOperator,
    RemovalLimit,
)
from learnifier_simulator import seed
from learnifier_simulator.dispatch import Dispatcher
from learnifier_simulator.variants import SpecVariants
from tests.openapi_contract import validate_all

PROJECT = seed.DEMO_PROJECT_ID
POSTS = ("POST", "PATCH", "DELETE")

# ---------------------------------------------------------------------- helpers


def people(count: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"email": f"person{n}@example.com", "first_name": f"Person{n}", "last_name": "Test", **extra}
        for n in range(start, start + count)
    ]


def participants(sim: Any, project_id: int = PROJECT) -> list[dict[str, Any]]:
    return [p for p in sim.state.snapshot()["participants"] if p["projectId"] == project_id]


def users(sim: Any) -> list[dict[str, Any]]:
    return sim.state.snapshot()["users"]


def user_by_email(sim: Any, email: str) -> dict[str, Any]:
    (user,) = [u for u in users(sim) if (u.get("primaryEmail") or "").casefold() == email.casefold()]
    return user


def result_of(dag_run: Any, task_id: str = "enroll", key: str = "return_value") -> Any:
    value = dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)
    assert json.loads(json.dumps(value)) == value, "XCom results must be plain JSON"
    return value


def writes(sim: Any) -> list[Any]:
    return [e for e in sim.exchanges if e.method in POSTS and not e.control]


def assert_everyone_enrolled_once(sim: Any, roster: list[dict[str, Any]], users_before: int) -> None:
    """Exactly one user per person, one participant per user, each activated exactly once."""
    all_users = users(sim)
    emails = Counter((u.get("primaryEmail") or "").casefold() for u in all_users if u.get("primaryEmail"))
    assert max(emails.values()) == 1, "duplicate users"
    roster_emails = {row["email"].casefold() for row in roster}
    assert len(all_users) == users_before + len(roster_emails - {seed.DEMO_ADMIN_EMAIL})
    wanted = {u["id"] for u in all_users if (u.get("primaryEmail") or "").casefold() in roster_emails}
    enrolled = Counter(p["userId"] for p in participants(sim))
    assert set(enrolled) == wanted
    assert max(enrolled.values()) == 1, "duplicate participants"
    for participant in participants(sim):
        assert participant["activated"], participant
        assert participant["firstActivation"] == participant["lastActivation"], "activated twice"


@pytest.fixture
def hook(learnifier_conn: Any) -> Any:
    with LearnifierHook() as hook:
        yield hook


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


# ---------------------------------------------------------------------- enrolling


def test_enroll_creates_users_enrolls_and_activates(learnifier_conn, hook, run_dag, openapi_spec):
    sim = learnifier_conn
    grace = hook.create_user(primary_email="grace@example.com", external_id="hr-grace")
    known = hook.create_user(primary_email="known@example.com")
    roster = [
        {"Email": "ADMIN@acme.example"},  # the seeded admin, by email in another case
        {"externalId": "hr-grace"},  # an existing user by external id
        {"user_id": known},  # an existing user by id
        {"e-mail": "new@example.com", "First Name": "New", "Last Name": "Person", "Department": "Sales"},
        {"email": "ext@example.com", "external_id": "hr-ext", "locale": "sv"},
    ]
    dag_run = run_dag("operators_enroll", {"roster": roster})

    assert dag_run.state == "success"
    result = result_of(dag_run)
    assert result["counts"] == {
        "roster": 5,
        "created_users": 2,
        "users_maybe_created": 0,
        "enrolled": 5,
        "already_enrolled": 0,
        "activated": 5,
        "activation_unknown": 0,
        "removed": 0,
        "failed": 0,
    }
    assert result["created_users"] == ["new@example.com", "hr-ext"]
    # People are named by their row's external id, else email, else user id, in roster order.
    assert result["enrolled"] == ["ADMIN@acme.example", "hr-grace", known, "new@example.com", "hr-ext"]
    assert result["project"]["project_id"] == str(PROJECT)
    assert result["project"]["admin_url"].endswith(f"/admin/projects/{PROJECT}")

    new = user_by_email(sim, "new@example.com")
    assert (new["firstName"], new["lastName"], new["homeOrg"]) == ("New", "Person", seed.DEMO_ORG_UNIT_ID)
    assert user_by_email(sim, "ext@example.com")["externalId"] == "hr-ext"
    by_user = {p["userId"]: p for p in participants(sim)}
    assert set(by_user) == {
        seed.DEMO_ADMIN_USER_ID,
        grace,
        known,
        new["id"],
        user_by_email(sim, "ext@example.com")["id"],
    }
    assert all(p["activated"] for p in by_user.values())
    assert result["participant_ids"]["hr-grace"] == str(by_user[grace]["id"])
    validate_all(openapi_spec, sim.exchanges)


def test_a_rerun_changes_nothing(learnifier_conn, run_dag):
    sim = learnifier_conn
    roster = people(6)
    run_dag("operators_enroll", {"roster": roster})
    sim.clear_exchanges()

    dag_run = run_dag("operators_enroll", {"roster": roster})

    result = result_of(dag_run)
    assert result["counts"]["already_enrolled"] == 6
    assert result["created_users"] == result["enrolled"] == result["activated"] == []
    assert writes(sim) == []
    assert_everyone_enrolled_once(sim, roster, users_before=1)


@pytest.mark.parametrize(
    ("seam", "after"),
    [("create_user", 7), ("add_participant", 9), ("activate_participant", 11)],
)
def test_a_crash_mid_way_then_a_rerun_ends_in_the_exact_state(learnifier_conn, run_dag, mocker, seam, after):
    """Kill the task after some people (a crash, not a Learnifier error), rerun it: nothing is duplicated."""
    sim = learnifier_conn
    roster = [*people(20), {"email": seed.DEMO_ADMIN_EMAIL}]
    original = getattr(LearnifierHook, seam)
    calls = 0
    lock = threading.Lock()

    def crash_after_some(self: LearnifierHook, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        with lock:
            calls += 1
            crashed = calls > after
        if crashed:
            raise RuntimeError("simulated worker crash")
        return original(self, *args, **kwargs)

    patch = mocker.patch.object(LearnifierHook, seam, autospec=True, side_effect=crash_after_some)
    first = run_dag("operators_enroll", {"roster": roster})
    assert first.state == "failed"
    assert first.get_task_instance("enroll").state == "failed"
    done_before = {
        "create_user": len(users(sim)) - 1,
        "add_participant": len(participants(sim)),
        "activate_participant": sum(p["activated"] for p in participants(sim)),
    }[seam]
    assert 0 < done_before < len(roster), "the crash must happen mid-way"
    mocker.stop(patch)

    second = run_dag("operators_enroll", {"roster": roster})

    assert second.state == "success"
    result = result_of(second)
    assert result["failed"] == []
    assert result["counts"]["enrolled"] + result["counts"]["already_enrolled"] == len(roster)
    assert_everyone_enrolled_once(sim, roster, users_before=1)
    created = [e for e in sim.exchanges if e.method == "POST" and e.path == "/users" and e.status == 200]
    assert len(created) == 20
    activations = [e for e in sim.exchanges if e.path.endswith("/activate") and e.status == 201]
    assert len(activations) == len(roster)


def test_lost_answers_are_checked_before_trying_again(learnifier_conn, run_dag):
    """The simulator applies some POSTs but drops the connection before answering.

    One fault per kind of write: a write is sent again at most once, so two faults on one path
    could both strike one person, who then fails (``test_a_write_is_sent_again_at_most_once``).
    """
    sim = learnifier_conn
    roster = [*people(4), {"email": "ext@example.com", "external_id": "hr-ext"}]
    participants_path = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}/projects/{PROJECT}/participants"
    sim.inject(drop="after", times=1, method="POST", path="/users")
    sim.inject(drop="after", times=1, method="POST", path=participants_path)
    sim.inject(drop="after", times=1, method="POST", path=participants_path + "/")

    dag_run = run_dag("operators_enroll", {"roster": roster})

    assert dag_run.state == "success"
    assert sim.fault_counts["scripted"] == 3
    result = result_of(dag_run)
    assert result["failed"] == []
    assert result["counts"]["created_users"] == 5
    assert result["counts"]["enrolled"] == 5
    assert_everyone_enrolled_once(sim, roster, users_before=1)


def test_server_errors_on_writes_are_checked_and_tried_again(learnifier_conn, run_dag):
    """A POST answered 5xx may have been applied: the hook does not repeat it, the operator checks."""
    sim = learnifier_conn
    roster = people(4)
    participants_path = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}/projects/{PROJECT}/participants"
    sim.inject(status=502, times=1, method="POST", path="/users")
    sim.inject(status=500, times=1, method="POST", path=participants_path)

    dag_run = run_dag("operators_enroll", {"roster": roster})

    assert dag_run.state == "success"
    assert sim.fault_counts["scripted"] == 2
    result = result_of(dag_run)
    assert result["failed"] == []
    assert result["counts"]["enrolled"] == 4
    assert result["counts"]["activated"] == 4
    assert_everyone_enrolled_once(sim, roster, users_before=1)


def test_an_activation_is_never_sent_twice_in_one_run(learnifier_conn, run_dag):
    """An activation answered 500 was not applied (the state says so), but it is not sent again:
    the person fails, and the next run activates them."""
    sim = learnifier_conn
    roster = people(3)
    sim.inject(
        status=500,
        times=1,
        method="POST",
        path=f"/orgunits/{seed.DEMO_ORG_UNIT_ID}/projects/{PROJECT}/participants/",
    )

    first = run_dag("operators_enroll", {"roster": roster})

    assert first.state == "failed"
    (failure,) = result_of(first, key=ENROLLMENT_SUMMARY_XCOM_KEY)["failed"]
    assert "activating the participant failed" in failure["reason"] and "500" in failure["reason"]
    activations = Counter(e.path for e in sim.exchanges if e.path.endswith("/activate"))
    assert sorted(activations.values()) == [1, 1, 1]
    assert sum(not p["activated"] for p in participants(sim)) == 1

    second = run_dag("operators_enroll", {"roster": roster})

    assert second.state == "success"
    assert result_of(second)["counts"]["activated"] == 1
    assert_everyone_enrolled_once(sim, roster, users_before=1)


def test_an_activation_that_may_still_be_in_flight_is_left_to_the_next_try(learnifier_conn, run_dag):
    """Activations are not deduplicated by Learnifier: after a 504, only a rerun that reads again decides."""
    sim = learnifier_conn
    roster = people(3)
    participants_path = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}/projects/{PROJECT}/participants/"
    sim.inject(status=504, times=1, method="POST", path=participants_path)

    first = run_dag("operators_enroll", {"roster": roster})

    assert first.state == "failed"
    activations = [e for e in writes(sim) if e.path.endswith("/activate")]
    assert len(activations) == 3  # the one answered 504 was not sent again
    second = run_dag("operators_enroll", {"roster": roster})
    assert second.state == "success"
    assert result_of(second)["counts"]["activated"] == 1
    assert_everyone_enrolled_once(sim, roster, users_before=1)


def test_500_people_are_enrolled_concurrently_within_max_concurrency(learnifier_conn, run_dag, mocker):
    sim = learnifier_conn
    sim.latency = 0.005
    in_flight = peak = 0
    lock = threading.Lock()
    original = Dispatcher.dispatch

    def counting(self: Dispatcher, request: Any) -> Any:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            return original(self, request)
        finally:
            with lock:
                in_flight -= 1

    mocker.patch.object(Dispatcher, "dispatch", autospec=True, side_effect=counting)
    roster = people(500)

    dag_run = run_dag("operators_enroll", {"roster": roster})

    assert dag_run.state == "success"
    assert result_of(dag_run)["counts"]["enrolled"] == 500
    assert 1 < peak <= 8, f"peak concurrency {peak}"
    assert len(participants(sim)) == 500


def test_on_kill_stops_starting_people(learnifier_conn, mocker):
    sim = learnifier_conn
    operator = LearnifierEnrollOperator(
        task_id="enroll",
        roster=people(30),
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        max_concurrency=2,
    )
    original = LearnifierHook.create_user

    def killed_while_creating(self: LearnifierHook, **fields: Any) -> str:
        operator.on_kill()
        return original(self, **fields)

    mocker.patch.object(LearnifierHook, "create_user", autospec=True, side_effect=killed_while_creating)
    with pytest.raises(Cancelled):
        operator.execute(_context())
    assert len(users(sim)) - 1 <= 2  # only the people already started
    assert participants(sim) == []


# ---------------------------------------------------------------------- bad input and failures


def test_bad_rows_fail_the_task_before_any_change(learnifier_conn, run_dag):
    sim = learnifier_conn
    roster = [
        {"email": "ok@example.com"},
        {"first_name": "Nobody"},
        {"email": "not-an-email"},
        {"email": "OK@example.com"},
        "just text",
    ]
    dag_run = run_dag("operators_enroll", {"roster": roster})

    assert dag_run.get_task_instance("enroll").state == "failed"
    assert writes(sim) == []
    assert participants(sim) == []


def test_bad_rows_are_named_in_the_error(learnifier_conn):
    roster = [
        {"email": "ok@example.com"},
        {"first_name": "Nobody"},
        {"email": "not-an-email"},
        {"email": "OK@example.com"},
        {"user_id": "../etc"},
    ]
    operator = LearnifierEnrollOperator(task_id="enroll", roster=roster, project_id=PROJECT, org_id=1001)

    with pytest.raises(LearnifierInputError) as failure:
        operator.execute(_context())

    message = str(failure.value)
    assert "4 bad row(s) of 5" in message
    assert "row 2" in message and "has no email or external_id or user_id" in message
    assert "'not-an-email' is not a valid email address" in message
    assert "repeats the email 'OK@example.com' of row 1" in message
    assert "user_id '../etc' is not a valid Learnifier id" in message
    assert [problem["row"] for problem in failure.value.problems] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("roster", "expected"),
    [
        ("/no/such/roster.csv", "does not exist"),
        ({"people": "x"}, "not a list of people"),
        ("[{'email': ", "neither JSON nor a list literal"),
        (42, "must be a list of dicts"),
        ("   ", "empty string"),
    ],
)
def test_unreadable_rosters_are_refused_clearly(learnifier_conn, roster, expected):
    operator = LearnifierEnrollOperator(task_id="enroll", roster=roster, project_external_id="x")
    with pytest.raises(LearnifierInputError, match=expected):
        operator.execute(_context())


def test_the_project_must_be_named_one_way(learnifier_conn):
    operator = LearnifierEnrollOperator(task_id="enroll", roster=[], project_id=PROJECT)
    with pytest.raises(LearnifierInputError, match="needs its org_id"):
        operator.execute(_context())
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=[], project_id=PROJECT, project_external_id="x"
    )
    with pytest.raises(
        LearnifierInputError, match="either by org_id and project_id, or by project_external_id"
    ):
        operator.execute(_context())


def test_invalid_limits_are_refused_at_construction():
    with pytest.raises(ValueError, match="max_concurrency"):
        LearnifierEnrollOperator(task_id="enroll", roster=[], max_concurrency=0)
    with pytest.raises(ValueError, match="max_failures"):
        LearnifierEnrollOperator(task_id="enroll", roster=[], max_failures=-1)


def test_failures_within_max_failures_are_reported_and_the_rest_enrolled(learnifier_conn, hook, run_dag):
    sim = learnifier_conn
    hook.create_user(primary_email="locked@example.com", hard_lock=True)
    roster = [
        *people(3),
        {"email": "locked@example.com"},  # activation refused: the user is locked
        {"user_id": "00000000-0000-4000-8000-000000000000"},  # no such user
    ]
    dag_run = run_dag("operators_enroll_by_id", {"roster": roster})

    assert dag_run.state == "success"
    result = result_of(dag_run)
    assert result["counts"]["failed"] == 2
    assert result["counts"]["activated"] == 3
    reasons = {failure["person"]: failure for failure in result["failed"]}
    assert "activating the participant failed" in reasons["locked@example.com"]["reason"]
    assert "The user is locked" in reasons["locked@example.com"]["reason"]
    assert reasons["locked@example.com"]["row"] == 4
    assert "no Learnifier user has the id" in reasons["00000000-0000-4000-8000-000000000000"]["reason"]
    assert len(participants(sim)) == 4  # the locked user is a participant, not activated


def test_more_failures_than_max_failures_fail_the_task_after_doing_the_rest(learnifier_conn, hook, run_dag):
    sim = learnifier_conn
    for n in range(3):
        hook.create_user(primary_email=f"locked{n}@example.com", hard_lock=True)
    roster = people(2) + [{"email": f"locked{n}@example.com"} for n in range(3)]

    dag_run = run_dag("operators_enroll_by_id", {"roster": roster})

    assert dag_run.get_task_instance("enroll").state == "failed"
    summary = result_of(dag_run, key=ENROLLMENT_SUMMARY_XCOM_KEY)
    assert summary["counts"]["failed"] == 3
    assert summary["counts"]["activated"] == 2
    assert sum(p["activated"] for p in participants(sim)) == 2


def test_the_enrollment_error_names_the_failures(learnifier_conn, hook):
    hook.create_user(primary_email="locked@example.com", hard_lock=True)
    operator = LearnifierEnrollOperator(
        task_id="enroll",
        roster=[{"email": "locked@example.com"}],
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
    )
    context = _context()

    with pytest.raises(LearnifierEnrollmentError) as failure:
        operator.execute(context)

    assert "locked@example.com (row 1): activating the participant failed" in str(failure.value)
    assert failure.value.failures[0]["person"] == "locked@example.com"
    context["ti"].xcom_push.assert_any_call(key=ENROLLMENT_SUMMARY_XCOM_KEY, value=failure.value.summary)


def test_missing_users_are_not_created_when_asked(learnifier_conn, run_dag):
    sim = learnifier_conn
    roster = [{"email": seed.DEMO_ADMIN_EMAIL}, {"email": "stranger@example.com"}]
    dag_run = run_dag("operators_enroll_existing_users_only", {"roster": roster})

    assert dag_run.get_task_instance("enroll").state == "failed"
    assert len(users(sim)) == 1
    (participant,) = participants(sim)
    assert participant["userId"] == seed.DEMO_ADMIN_USER_ID
    assert participant["activated"] is False


# ---------------------------------------------------------------------- sync


def _enrolled(sim: Any, count: int) -> list[dict[str, Any]]:
    """Enroll ``count`` people by running the operator in this process: the state the tests start
    from, without a DAG run's overhead (the DAG runs are tested above)."""
    roster = people(count)
    LearnifierEnrollOperator(
        task_id="enroll", roster=roster, project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID, max_concurrency=8
    ).execute(_context())
    assert len(participants(sim)) == count
    sim.clear_exchanges()
    return roster


@pytest.fixture
def enrolled_three(learnifier_conn: Any) -> list[dict[str, Any]]:
    return _enrolled(learnifier_conn, 3)


def test_remove_missing_dry_run_only_reports(learnifier_conn, run_dag, enrolled_three):
    sim = learnifier_conn
    before = sim.state.snapshot()
    roster = [enrolled_three[0], {"email": "newcomer@example.com"}]

    dag_run = run_dag("operators_enroll_sync_dry_run", {"roster": roster})

    result = result_of(dag_run)
    assert result["dry_run"] is True
    assert result["removed"] == ["person1@example.com", "person2@example.com"]
    assert result["created_users"] == result["enrolled"] == ["newcomer@example.com"]
    assert result["already_enrolled"] == ["person0@example.com"]
    assert writes(sim) == []
    assert sim.state.snapshot() == before


def test_remove_missing_removes_participants_not_on_the_roster(learnifier_conn, run_dag, enrolled_three):
    sim = learnifier_conn
    roster = [enrolled_three[0], {"email": "newcomer@example.com"}]

    dag_run = run_dag("operators_enroll_sync", {"roster": roster})

    result = result_of(dag_run)
    assert result["removed"] == ["person1@example.com", "person2@example.com"]
    emails = {user_by_email(sim, row["email"])["id"] for row in roster}
    assert {p["userId"] for p in participants(sim)} == emails
    assert len(users(sim)) == 5  # users are never deleted


def test_remove_missing_is_skipped_when_rows_are_bad(learnifier_conn, enrolled_three):
    sim = learnifier_conn
    roster = [enrolled_three[0], {"email": "person1@example"}]  # a typo: person1 must not be removed
    operator = LearnifierEnrollOperator(
        task_id="sync",
        roster=roster,
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        remove_missing=True,
        max_failures=1,
    )
    result = operator.execute(_context())

    assert "no participant was removed" in result["removal_skipped"]
    assert result["failed"][0]["row"] == 2
    assert len(participants(sim)) == 3


def test_remove_missing_removes_nobody_when_a_row_did_not_resolve(learnifier_conn, hook, enrolled_three):
    """A row that could not be matched to a user (here: its identifiers name two people) leaves the
    picture incomplete: nobody is removed, not even person2, who is on no row."""
    sim = learnifier_conn
    person1 = user_by_email(sim, "person1@example.com")
    hook.update_user(person1["id"], external_id="hr-1")
    roster = [enrolled_three[0], {"email": "person1@example.com", "external_id": "hr-other"}]
    operator = LearnifierEnrollOperator(
        task_id="sync",
        roster=roster,
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        remove_missing=True,
        create_missing_users=False,
        max_failures=1,
    )
    result = operator.execute(_context())

    assert "belongs to user" in result["failed"][0]["reason"]
    assert result["removed"] == []
    assert "1 roster row(s) could not be matched to a Learnifier user" in result["removal_skipped"]
    assert len(participants(sim)) == 3


def test_an_empty_roster_does_not_empty_a_project_by_accident(learnifier_conn, enrolled_three):
    sim = learnifier_conn
    operator = LearnifierEnrollOperator(
        task_id="sync", roster=[], project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID, remove_missing=True
    )
    with pytest.raises(LearnifierInputError, match="allow_empty_roster"):
        operator.execute(_context())
    assert len(participants(sim)) == 3

    operator = LearnifierEnrollOperator(
        task_id="sync",
        roster=[],
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        remove_missing=True,
        allow_empty_roster=True,
    )
    assert operator.execute(_context())["counts"]["removed"] == 3
    assert participants(sim) == []


# ---------------------------------------------------------------------- roster sources


def test_roster_from_a_csv_file(learnifier_conn, run_dag, tmp_path):
    sim = learnifier_conn
    path = tmp_path / "people.csv"
    path.write_text(
        "\ufeffE-mail;First Name;Last Name;Employee ID\n"
        "anna@example.com;Anna;Andersson;E1\n"
        ";;;\n"
        "bo@example.com;Bo;Berg;E2\n",
        encoding="utf-8",
    )
    dag_run = run_dag("operators_enroll", {"roster": str(path)})

    result = result_of(dag_run)
    assert result["enrolled"] == ["anna@example.com", "bo@example.com"]
    assert user_by_email(sim, "anna@example.com")["lastName"] == "Andersson"


def test_roster_from_an_object_storage_json_file(learnifier_conn, run_dag, tmp_path):
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"people": [{"primaryEmail": "cleo@example.com", "externalId": "E3"}]}))
    dag_run = run_dag("operators_enroll", {"roster": path.as_uri()})

    assert result_of(dag_run)["enrolled"] == ["E3"]
    assert len(participants(learnifier_conn)) == 1


def test_roster_as_object_storage_path_and_json_lines(learnifier_conn, tmp_path):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    path = Path(tmp_path / "people.jsonl")
    path.write_text('{"email": "dag@example.com"}\n\n{"email": "eve@example.com"}\n')
    operator = LearnifierEnrollOperator(
        task_id="enroll",
        roster=ObjectStoragePath(path.as_uri()),
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
    )
    assert operator.execute(_context())["enrolled"] == ["dag@example.com", "eve@example.com"]


# ---------------------------------------------------------------------- XCom chaining and login links


def test_roster_and_participant_ids_flow_through_xcom(learnifier_conn, run_dag):
    sim = learnifier_conn
    dag_run = run_dag("operators_enroll_from_xcom", {"emails": ["fay@example.com", "gus@example.com"]})

    assert dag_run.state == "success"
    enrolled = result_of(dag_run)
    links = result_of(dag_run, "login_links")
    assert sorted(links["participant_ids"]) == sorted(enrolled["participant_ids"].values())
    assert links["count"] == 2 and links["failed"] == []
    assert "links" not in links
    assert user_by_email(sim, "fay@example.com")["firstName"] == "Fay"
    made = [e for e in sim.exchanges if e.path.endswith("/loginlink")]
    assert len(made) == 2
    pushed = json.dumps(links)
    for exchange in made:
        assert exchange.response_json()["link"] not in pushed


def test_login_links_are_pushed_or_handed_over_only_on_request(learnifier_conn, hook, run_dag):
    sim = learnifier_conn
    enrolled = result_of(run_dag("operators_enroll", {"roster": people(2)}))
    inactive = hook.add_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, email="inactive@example.com")
    ids = [*enrolled["participant_ids"].values(), inactive]
    delivered: dict[str, str] = {}

    operator = LearnifierLoginLinkOperator(
        task_id="links",
        participant_ids=ids,
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        push_links=True,
        on_link=delivered.__setitem__,
        max_failures=1,
    )
    result = operator.execute(_context())

    assert result["participant_ids"] == ids[:2]
    assert result["links"] == delivered
    assert set(delivered) == set(ids[:2])
    assert all(link.startswith(sim.base_url + "/login/") for link in delivered.values())
    assert result["failed"][0]["participant_id"] == inactive
    assert "not activated" in result["failed"][0]["reason"]


def test_login_link_failures_beyond_max_failures_fail_the_task(learnifier_conn, hook):
    inactive = hook.add_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, email="inactive@example.com")
    operator = LearnifierLoginLinkOperator(
        task_id="links", participant_ids=f"{inactive}", org_id=seed.DEMO_ORG_UNIT_ID, project_id=PROJECT
    )
    with pytest.raises(Exception, match="1 of 1 login link"):
        operator.execute(_context())


def test_login_links_for_an_unknown_project_fail(learnifier_conn):
    operator = LearnifierLoginLinkOperator(task_id="links", participant_ids=["1"], project_external_id="nope")
    with pytest.raises(LearnifierNotFoundError, match="no project with the external id 'nope'"):
        operator.execute(_context())


@pytest.mark.parametrize(
    ("org_id", "named"),
    [
        (None, "Learnifier has no project with the external id 'no-such-course' ("),
        (
            seed.DEMO_ORG_UNIT_ID,
            "Learnifier has no project with the external id 'no-such-course' (wanted in organization unit "
            f"{seed.DEMO_ORG_UNIT_ID}) (",
        ),
    ],
    ids=["external-id", "external-id-and-org-unit"],
)
def test_enrolling_into_an_unknown_project_external_id_names_it(learnifier_conn, org_id, named):
    """Before, the error said only "GET /extproject answered 404 Not Found"."""
    sim = learnifier_conn
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=people(1), project_external_id="no-such-course", org_id=org_id
    )

    with pytest.raises(LearnifierNotFoundError) as missing:
        operator.execute(_context())

    assert str(missing.value).startswith(named)
    assert (missing.value.status, missing.value.path) == (404, "/extproject")
    assert writes(sim) == []


# ---------------------------------------------------------------------------- identity, guard, overlap


def _sync(roster: list[dict[str, Any]], **kwargs: Any) -> LearnifierEnrollOperator:
    return LearnifierEnrollOperator(
        task_id="sync",
        roster=roster,
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        remove_missing=True,
        **kwargs,
    )


def test_a_409_naming_another_person_is_a_failure_not_an_enrollment(learnifier_conn, hook, mocker):
    """POST /users answers 409 with the id of a user created after the listing was read (a race):
    that user has the row's email but another external id, so it is somebody else."""
    sim = learnifier_conn
    listing_before = list(hook.iter_users())
    old = hook.create_user(primary_email="user250@example.com", external_id="OLD250")
    mocker.patch.object(LearnifierHook, "iter_users", return_value=iter(listing_before))
    roster = [{"email": "user250@example.com", "external_id": "NEW250"}, *people(2)]

    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=roster, project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID, max_failures=1
    )
    result = operator.execute(_context())

    (failure,) = result["failed"]
    assert failure["person"] == "NEW250"
    assert old in failure["reason"] and "'OLD250'" in failure["reason"] and "'NEW250'" in failure["reason"]
    assert old not in {p["userId"] for p in participants(sim)}, "OLD250 was enrolled as NEW250"
    assert result["counts"]["enrolled"] == 2


def test_a_409_naming_the_same_person_is_reused(learnifier_conn, hook, mocker):
    sim = learnifier_conn
    listing_before = list(hook.iter_users())
    same = hook.create_user(primary_email="Late@Example.com")
    mocker.patch.object(LearnifierHook, "iter_users", return_value=iter(listing_before))

    operator = LearnifierEnrollOperator(
        task_id="enroll",
        roster=[{"email": "late@example.com"}],
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
    )
    result = operator.execute(_context())

    assert result["failed"] == [] and result["created_users"] == []
    assert [p["userId"] for p in participants(sim)] == [same]


def test_a_write_is_sent_again_at_most_once(learnifier_conn):
    """Both the POST and its one resend fail with a 5xx: the person fails, no third POST is sent."""
    sim = learnifier_conn
    sim.inject(status=500, times=2, method="POST", path="/users")
    operator = LearnifierEnrollOperator(
        task_id="enroll",
        roster=[{"email": "twice@example.com"}],
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        max_failures=1,
    )
    result = operator.execute(_context())

    assert [f["person"] for f in result["failed"]] == ["twice@example.com"]
    assert len([e for e in sim.exchanges if (e.method, e.path) == ("POST", "/users")]) == 2


@pytest.fixture
def enrolled_fifteen(learnifier_conn: Any) -> list[dict[str, Any]]:
    return _enrolled(learnifier_conn, 15)


def test_the_guard_refuses_a_sync_that_would_remove_more_than_usual(learnifier_conn, enrolled_fifteen):
    """13 of 15 is more than 10% and more than 10 people: no DELETE, the task fails naming the count."""
    sim = learnifier_conn
    context = _context()

    with pytest.raises(
        LearnifierMassRemovalError, match="removing 13 of the project's 15 participant"
    ) as raised:
        _sync(enrolled_fifteen[:2]).execute(context)

    assert not [e for e in sim.exchanges if e.method == "DELETE"]
    assert len(participants(sim)) == 15
    summary = raised.value.summary
    assert summary["removed"] == []
    assert summary["would_remove"] == sorted(row["email"] for row in enrolled_fifteen[2:])
    context["ti"].xcom_push.assert_any_call(key=ENROLLMENT_SUMMARY_XCOM_KEY, value=summary)


@pytest.mark.parametrize(
    ("max_removals", "removed"),
    [(None, 13), (13, 13), (0.9, 13), (12, 0), (0.5, 0), (RemovalLimit(count=20, share=0.5), 13)],
)
def test_max_removals_sets_the_guard(learnifier_conn, enrolled_fifteen, max_removals, removed):
    sim = learnifier_conn
    operator = _sync(enrolled_fifteen[:2], max_removals=max_removals)
    if removed:
        assert len(operator.execute(_context())["removed"]) == removed
    else:
        with pytest.raises(LearnifierMassRemovalError):
            operator.execute(_context())
    assert len(participants(sim)) == 15 - removed


def test_a_dry_run_reports_the_guard_without_failing(learnifier_conn, enrolled_fifteen):
    result = _sync(enrolled_fifteen[:2], dry_run=True).execute(_context())
    assert "removing 13 of the project's 15" in result["removal_refused"]
    assert len(result["would_remove"]) == 13 and result["removed"] == []
    assert not [e for e in learnifier_conn.exchanges if e.method in POSTS]


@pytest.mark.parametrize("value", [-1, 1.0, 1.5, True, 2.5j])
def test_max_removals_refuses_what_it_cannot_mean(value):
    with pytest.raises(ValueError, match="max_removals"):
        _sync([], max_removals=value)


@pytest.mark.parametrize(
    ("rendered", "removed"), [("13", 13), ("0.9", 13), ("", 0), ("None", 0), (" 12 ", 0)]
)
def test_a_rendered_max_removals_is_read_when_the_task_runs(
    learnifier_conn, enrolled_fifteen, rendered, removed
):
    """A blank or "None" rendering means the default guard, never no guard."""
    operator = _sync(enrolled_fifteen[:2], max_removals=rendered)
    if removed:
        assert len(operator.execute(_context())["removed"]) == removed
    else:
        with pytest.raises(LearnifierMassRemovalError):
            operator.execute(_context())


def test_a_rendered_max_removals_that_means_nothing_fails_clearly(learnifier_conn):
    with pytest.raises(LearnifierInputError, match="max_removals must be a count"):
        _sync([{"email": "a@example.com"}], max_removals="ten").execute(_context())


def test_overlapping_runs_never_activate_anyone_twice(learnifier_conn, hook):
    """Two enrollments of one roster into one project at once, many times over: every person ends
    up with one user, one participant and exactly one activation request."""
    sim = learnifier_conn

    def run(operator: LearnifierEnrollOperator, start: threading.Barrier, results: list[Any]) -> None:
        # execute_with_hook, not execute: Airflow 2's execute guard keeps its state per thread.
        with LearnifierHook(pool_maxsize=8) as task_hook:
            start.wait()
            results.append(operator.execute_with_hook(task_hook, _context()))

    for trial in range(12):
        sim.clear_exchanges()
        roster = people(20, start=100 * trial)
        start = threading.Barrier(2)
        results: list[Any] = []
        runs = [
            LearnifierEnrollOperator(
                task_id=f"enroll_{n}",
                roster=roster,
                project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
                max_concurrency=8,
                max_failures=len(roster),
            )
            for n in range(2)
        ]
        threads = [threading.Thread(target=run, args=(operator, start, results)) for operator in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(results) == 2, "a run raised"
        activations = Counter(e.path for e in sim.exchanges if e.path.endswith("/activate"))
        assert activations and max(activations.values()) == 1, f"trial {trial}: {activations}"
        assert all(result["failed"] == [] for result in results), results
        emails = {row["email"] for row in roster}
        mine = [u for u in users(sim) if u.get("primaryEmail") in emails]
        assert len(mine) == len(roster), "duplicate users"
        enrolled = Counter(p["userId"] for p in participants(sim) if p["userId"] in {u["id"] for u in mine})
        assert len(enrolled) == len(roster) and max(enrolled.values()) == 1
        assert all(p["activated"] for p in participants(sim))
        assert len(activations) == len(roster)


def test_sync_against_a_server_that_pages_by_less_than_asked_removes_nobody_on_the_roster(
    learnifier_conn, run_dag
):
    """A server that answers GET /users ten at a time, whatever the limit asked, is within the spec.
    The user index must read every page: with the first page alone, the other rows "have no user",
    and sync (without the guard) would remove 20 of the 30 rostered participants."""
    sim = learnifier_conn
    roster = people(30)
    assert run_dag("operators_enroll", {"roster": roster}).state == "success"
    sim.variants = SpecVariants(users_page_cap=10)
    sim.clear_exchanges()

    result = _sync(roster, create_missing_users=False, max_removals=None).execute(_context())

    assert result["removed"] == [] and result["failed"] == []
    assert len(participants(sim)) == 30
    pages = [e for e in sim.exchanges if (e.method, e.path) == ("GET", "/users")]
    assert len(pages) == 4  # 31 users (the seeded admin too), ten a page


def _enroll_once(roster: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=roster, project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID, **kwargs
    )
    result = operator.execute(_context())
    assert json.loads(json.dumps(result)) == result
    return result


@pytest.mark.parametrize(
    ("row", "faults"),
    [
        pytest.param(
            {"email": "lost@example.com"},
            # Made, answer lost; the resend answered 502 (not applied): by email nothing can be read.
            [
                {"drop": "after", "method": "POST", "path": "/users"},
                {"status": 502, "method": "POST", "path": "/users"},
            ],
            id="email-only: create and resend unclear",
        ),
        pytest.param(
            {"email": "lost@example.com", "external_id": "hr-lost"},
            # Made, answer lost; reading it back by external id fails, retries included.
            [
                {"drop": "after", "method": "POST", "path": "/users"},
                {"status": 500, "times": 2, "method": "GET", "path": "/extuser"},
            ],
            id="external id: read-back failed",
        ),
    ],
)
def test_a_user_that_may_have_been_created_is_reported_so(learnifier_conn, monkeypatch, row, faults):
    """Before, the person only failed: the summary did not count the user the run had made."""
    sim = learnifier_conn
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_DEFAULT", sim.connection_json({"max_retries": 1, "backoff_factor": 0.001})
    )
    for fault in faults:
        sim.inject(**{"times": 1, **fault})
    label = row.get("external_id") or row["email"]

    result = _enroll_once([row], max_failures=1)

    assert sim.fault_counts["scripted"] == sum(fault.get("times", 1) for fault in faults)
    user_by_email(sim, row["email"])  # the user exists: the first POST was applied
    assert result["created_users"] == []
    assert result["users_maybe_created"] == [label]
    assert result["counts"]["users_maybe_created"] == 1
    (failure,) = result["failed"]
    assert failure["person"] == label and "may have been created" in failure["reason"]
    assert participants(sim) == []

    # The next run finds the user and enrolls them: one user, one participant.
    again = _enroll_once([row])
    assert again["failed"] == [] and again["created_users"] == [] and again["enrolled"] == [label]
    assert_everyone_enrolled_once(sim, [{"email": row["email"]}], users_before=1)


# ---------------------------------------------------------------------- a create applied late

LATE_ROWS = {
    "no-email": {"external_id": "C-1", "first_name": "Cee"},
    "with-email": {"external_id": "C-1", "email": "c1@example.com", "first_name": "Cee"},
}


def _users_with_external_id(sim: Any, external_id: str) -> list[dict[str, Any]]:
    return [u for u in users(sim) if u.get("externalId") == external_id]


def _user_creates(sim: Any) -> list[Any]:
    return [e for e in sim.exchanges if (e.method, e.path) == ("POST", "/users")]


@pytest.mark.parametrize("row", list(LATE_ROWS))
def test_a_user_create_applied_late_within_the_read_back_window_makes_one_user(learnifier_conn, mocker, row):
    """The connection drops before the answer and Learnifier applies the create a moment later.

    Before, a row without an email was read back once (404), sent again, and Learnifier, which
    refuses a second user only for a taken email, made two users with the external id C-1.
    """
    sim = learnifier_conn
    sim.variants = SpecVariants(duplicate_external_ids=True)  # only a taken email answers 409
    waits = mocker.patch("airflow_provider_learnifier.operators._writes._sleep")
    # Applied just before the second request after it: after one read-back answered 404.
    sim.inject(drop="late", apply_after=2, method="POST", path="/users")

    result = _enroll_once([LATE_ROWS[row]])

    assert result["failed"] == [] and result["users_maybe_created"] == []
    assert result["created_users"] == ["C-1"] and result["enrolled"] == ["C-1"]
    assert len(_users_with_external_id(sim, "C-1")) == 1
    if row == "no-email":
        # Not sent again: read back once more after a pause, and found.
        assert len(_user_creates(sim)) == 1 and waits.call_count == 1
    else:
        # Sent again at once: Learnifier refuses a second user with the email, naming the first.
        assert [e.status for e in _user_creates(sim)] == [None, 409] and waits.call_count == 0


@pytest.mark.parametrize("row", list(LATE_ROWS))
def test_a_user_create_applied_after_the_read_back_window_is_reported_and_found_next_run(
    learnifier_conn, mocker, caplog, capsys, row
):
    """Without an email the create is not sent again: the person is in users_maybe_created, and
    the next run finds the user. With an email a second create is safe: Learnifier refuses one."""
    from airflow_provider_learnifier.operators._writes import SETTLE_PAUSES

    sim = learnifier_conn
    sim.variants = SpecVariants(duplicate_external_ids=True)  # only a taken email answers 409
    waits = mocker.patch("airflow_provider_learnifier.operators._writes._sleep")
    sim.inject(drop="late", apply_after=1000, method="POST", path="/users")

    result = _enroll_once([LATE_ROWS[row]], max_failures=1)
    sim.apply_late_requests()  # "a moment later", after the run

    if row == "no-email":
        assert [call.args[0] for call in waits.call_args_list] == list(SETTLE_PAUSES)
        assert result["users_maybe_created"] == ["C-1"] and result["created_users"] == []
        (failure,) = result["failed"]
        assert "may have been created (the next run finds it)" in failure["reason"]
        assert "was not sent again" in failure["reason"]
        logs = caplog.text + capsys.readouterr().out
        assert "Learnifier enrollment of C-1 (row 1) failed: the user may have been created" in logs
        assert len(_user_creates(sim)) == 1
        assert participants(sim) == []
    else:
        assert result["created_users"] == ["C-1"] and result["failed"] == []
        assert len(_user_creates(sim)) == 2
    assert len(_users_with_external_id(sim, "C-1")) == 1

    again = _enroll_once([LATE_ROWS[row]])

    assert again["failed"] == [] and again["created_users"] == [] and again["users_maybe_created"] == []
    assert len(_user_creates(sim)) == (1 if row == "no-email" else 2)  # the next run created nothing
    (user,) = _users_with_external_id(sim, "C-1")
    assert [p["userId"] for p in participants(sim)] == [user["id"]]
