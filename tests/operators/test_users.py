"""LearnifierUpsertUsersOperator against the simulator: match, create, update only what changed."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators._base import LearnifierBulkOperationError, LearnifierInputError
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator
from airflow_provider_learnifier.simulator import seed
from tests.openapi_contract import validate_all


def users(sim: Any) -> dict[str, dict[str, Any]]:
    return {u["id"]: u for u in sim.state.snapshot()["users"]}


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def _upsert(rows: Any, **kwargs: Any) -> dict[str, Any]:
    result = LearnifierUpsertUsersOperator(task_id="upsert", users=rows, **kwargs).execute(_context())
    assert json.loads(json.dumps(result)) == result
    return result


@pytest.fixture
def existing(learnifier_conn: Any) -> dict[str, str]:
    with LearnifierHook() as hook:
        return {
            "grace": hook.create_user(
                primary_email="grace@example.com", external_id="hr-grace", first_name="Grace"
            ),
            "linus": hook.create_user(primary_email="linus@example.com", first_name="Linus", last_name="T"),
        }


def test_upsert_creates_updates_and_leaves_alone(learnifier_conn, existing, openapi_spec):
    sim = learnifier_conn
    rows = [
        {"external_id": "hr-grace", "first_name": "Grace", "last_name": "Hopper"},  # last name changes
        {"email": "LINUS@example.com", "first_name": "Linus", "last_name": "T"},  # nothing changes
        {
            "email": "new@example.com",
            "external_id": "hr-new",
            "first_name": "New",
            "locale": "sv",
            "home_org": "1001",
        },
        {"user_id": seed.DEMO_ADMIN_USER_ID, "hard_lock": "yes"},
    ]
    result = _upsert(rows)

    assert result["user_ids"]["hr-grace"] == existing["grace"]
    assert result["user_ids"]["LINUS@example.com"] == existing["linus"]
    new_id = result["user_ids"]["hr-new"]
    assert result["user_ids"][seed.DEMO_ADMIN_USER_ID] == seed.DEMO_ADMIN_USER_ID
    assert result["created"] == ["hr-new"]
    assert result["updated"] == {"hr-grace": ["last_name"], seed.DEMO_ADMIN_USER_ID: ["hard_lock"]}
    assert result["unchanged"] == ["LINUS@example.com"]
    assert result["counts"] == {"rows": 4, "created": 1, "updated": 2, "unchanged": 1, "failed": 0}

    state = users(sim)
    assert state[existing["grace"]]["lastName"] == "Hopper"
    assert state[new_id]["prefs"] == {"locale": "sv"} and state[new_id]["homeOrg"] == 1001
    assert state[seed.DEMO_ADMIN_USER_ID]["hardLock"] is True
    patches = [e for e in sim.exchanges if e.method == "PATCH"]
    sent = {e.path.rsplit("/", 1)[-1]: e.request_json() for e in patches}
    assert sent == {existing["grace"]: {"lastName": "Hopper"}, seed.DEMO_ADMIN_USER_ID: {"hardLock": True}}
    validate_all(openapi_spec, sim.exchanges)


def test_a_second_run_sends_nothing(learnifier_conn, existing):
    sim = learnifier_conn
    rows = [{"email": "a@example.com", "first_name": "A"}, {"external_id": "hr-grace", "first_name": "Grace"}]
    _upsert(rows)
    sim.clear_exchanges()

    result = _upsert(rows)

    assert result["unchanged"] == ["a@example.com", "hr-grace"]
    assert [e.method for e in sim.exchanges] == ["GET"]


def test_match_by_email_sets_the_external_id(learnifier_conn, existing):
    sim = learnifier_conn
    result = _upsert([{"email": "linus@example.com", "external_id": "hr-linus"}], match_by=["email"])

    assert result["updated"] == {"linus@example.com": ["external_id"]}
    assert users(sim)[existing["linus"]]["externalId"] == "hr-linus"


def test_per_row_errors_are_reported_and_the_others_done(learnifier_conn, existing):
    sim = learnifier_conn
    rows = [
        {"external_id": "hr-grace", "email": "linus@example.com"},  # the email belongs to Linus: 409
        {"email": "ok@example.com"},
        {"email": "stranger@example.com", "external_id": "hr-grace"},  # repeats row 1's external id
        {"user_id": "00000000-0000-4000-8000-000000000000", "first_name": "Ghost"},
    ]
    with pytest.raises(LearnifierInputError) as failure:
        _upsert(rows, max_failures=0)
    assert "1 bad row(s) of 4" in str(failure.value)  # caught before anything is sent
    assert len(users(sim)) == 3

    with pytest.raises(LearnifierBulkOperationError) as failure:
        _upsert(rows, max_failures=2)
    failed = {f["row"]: f["reason"] for f in failure.value.failures}
    assert set(failed) == {1, 3, 4}
    assert "conflicts with another user" in failed[1]
    assert "repeats the external_id 'hr-grace' of row 1" in failed[3]
    assert "no Learnifier user has the id" in failed[4]
    assert failure.value.summary["created"] == ["ok@example.com"]
    assert "ok@example.com" in str(users(sim))


def test_unknown_rows_are_not_created_when_asked(learnifier_conn, existing):
    with pytest.raises(LearnifierBulkOperationError, match="matches no Learnifier user"):
        _upsert([{"email": "nobody@example.com"}], create_missing=False)


def test_bad_arguments(learnifier_conn):
    with pytest.raises(ValueError, match="match_by"):
        LearnifierUpsertUsersOperator(task_id="u", users=[], match_by=["name"])
    with pytest.raises(LearnifierInputError, match="users list"):
        _upsert(3)


def test_lost_answers_do_not_duplicate_users(learnifier_conn, existing):
    sim = learnifier_conn
    sim.inject(drop="after", times=2, method="POST", path="/users")
    sim.inject(drop="after", times=1, method="PATCH", path="/users/")
    rows = [
        {"email": "one@example.com", "external_id": "hr-one"},
        {"email": "two@example.com"},
        {"external_id": "hr-grace", "last_name": "Hopper"},
    ]
    result = _upsert(rows, max_concurrency=1)

    assert result["created"] == ["hr-one", "two@example.com"]
    assert result["updated"] == {"hr-grace": ["last_name"]}
    emails = sorted(u.get("primaryEmail") for u in users(sim).values())
    assert emails == sorted(
        [
            seed.DEMO_ADMIN_EMAIL,
            "grace@example.com",
            "linus@example.com",
            "one@example.com",
            "two@example.com",
        ]
    )
    assert users(sim)[existing["grace"]]["lastName"] == "Hopper"


def test_upsert_and_group_membership_in_a_dag(learnifier_conn, run_dag, existing):
    sim = learnifier_conn
    rows = [
        {"external_id": "hr-grace", "first_name": "Grace"},
        {"email": "ann@example.com", "external_id": "hr-ann"},
        {"email": "bob@example.com", "external_id": "hr-bob"},
    ]
    dag_run = run_dag("operators_users", {"users": rows, "remove_external_ids": ["hr-bob"]})

    assert dag_run.state == "success"
    upserted = dag_run.get_task_instance("upsert").xcom_pull(task_ids="upsert")
    group = dag_run.get_task_instance("create_group").xcom_pull(task_ids="create_group")
    added = dag_run.get_task_instance("add_members").xcom_pull(task_ids="add_members")
    removed = dag_run.get_task_instance("remove_members").xcom_pull(task_ids="remove_members")
    ids = upserted["user_ids"]
    assert upserted["created"] == ["hr-ann", "hr-bob"]
    assert group["reused"] is False and group["name"] == "Course takers"
    assert added["added"] == [ids["hr-grace"], ids["hr-ann"], ids["hr-bob"]]
    assert removed == {
        "org_id": str(seed.DEMO_ORG_UNIT_ID),
        "group_id": group["group_id"],
        "removed": [ids["hr-bob"]],
        "not_members": [],
        "failed": [],
    }
    (state,) = [g for g in sim.state.snapshot()["userGroups"] if g["name"] == "Course takers"]
    assert sorted(state["members"]) == sorted([ids["hr-grace"], ids["hr-ann"]])
