"""The user group operators against the simulator: create (or reuse), add and remove members."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators._base import LearnifierBulkOperationError, LearnifierInputError
from airflow_provider_learnifier.operators.user_groups import (
    LearnifierAddUserGroupMembersOperator,
    LearnifierCreateUserGroupOperator,
    LearnifierRemoveUserGroupMembersOperator,
)
from airflow_provider_learnifier.simulator import seed
from tests.openapi_contract import validate_all

ORG = seed.DEMO_ORG_UNIT_ID
GROUP = seed.DEMO_USER_GROUP_ID
ADMIN = seed.DEMO_ADMIN_USER_ID


def groups(sim: Any) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in sim.state.snapshot()["userGroups"]}


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


@pytest.fixture
def two_users(learnifier_conn: Any) -> list[str]:
    with LearnifierHook() as hook:
        return [hook.create_user(primary_email=f"member{n}@example.com") for n in range(2)]


def test_create_a_group_then_reuse_it(learnifier_conn, openapi_spec):
    sim = learnifier_conn
    first = LearnifierCreateUserGroupOperator(task_id="g", name="Managers", org_external_id="acme").execute(
        _context()
    )
    child = LearnifierCreateUserGroupOperator(
        task_id="g", name="Managers", org_id=ORG, parent=first["group_id"]
    ).execute(_context())
    again = LearnifierCreateUserGroupOperator(task_id="g", name="Managers", org_id=str(ORG)).execute(
        _context()
    )

    assert first == {
        "org_id": str(ORG),
        "name": "Managers",
        "parent": None,
        "group_id": first["group_id"],
        "reused": False,
    }
    assert child["reused"] is False and child["parent"] == first["group_id"]
    assert again == {**first, "reused": True}
    managers = [g for g in sim.state.snapshot()["userGroups"] if g["name"] == "Managers"]
    assert len(managers) == 2
    validate_all(openapi_spec, sim.exchanges)


def test_reuse_can_be_turned_off_and_a_lost_answer_is_checked(learnifier_conn):
    sim = learnifier_conn
    sim.inject(drop="after", method="POST", path=f"/orgunits/{ORG}/usergroups")
    lost = LearnifierCreateUserGroupOperator(task_id="g", name="Lost", org_id=ORG).execute(_context())
    assert lost["reused"] is False
    assert str(groups(sim)["Lost"]["groupId"]) == lost["group_id"]

    copy = LearnifierCreateUserGroupOperator(
        task_id="g", name=seed.DEMO_USER_GROUP_NAME, org_id=ORG, reuse_existing=False
    ).execute(_context())
    assert copy["group_id"] != str(GROUP)


def test_add_members_leaves_members_alone(learnifier_conn, two_users):
    sim = learnifier_conn
    operator = LearnifierAddUserGroupMembersOperator(
        task_id="add", org_id=ORG, group_id=GROUP, user_ids={"a": two_users[0], "b": ADMIN, "c": two_users[1]}
    )
    result = operator.execute(_context())

    assert result == {
        "org_id": str(ORG),
        "group_id": str(GROUP),
        "added": two_users,
        "already_members": [ADMIN],
        "failed": [],
    }
    members = groups(sim)[seed.DEMO_USER_GROUP_NAME]["members"]
    assert members[0] == ADMIN and sorted(members[1:]) == sorted(two_users)  # added concurrently
    sim.clear_exchanges()
    assert operator.execute(_context())["added"] == []
    assert [e.method for e in sim.exchanges] == ["GET"]


def test_unknown_users_fail_after_the_others_are_added(learnifier_conn, two_users):
    sim = learnifier_conn
    operator = LearnifierAddUserGroupMembersOperator(
        task_id="add", org_id=ORG, group_id=GROUP, user_ids=f"{two_users[0]}, no-such-user"
    )
    with pytest.raises(LearnifierBulkOperationError, match="1 of 2 user"):
        operator.execute(_context())
    assert two_users[0] in groups(sim)[seed.DEMO_USER_GROUP_NAME]["members"]


def test_remove_members(learnifier_conn, two_users):
    sim = learnifier_conn
    LearnifierAddUserGroupMembersOperator(
        task_id="a", org_id=ORG, group_id=GROUP, user_ids=two_users
    ).execute(_context())
    result = LearnifierRemoveUserGroupMembersOperator(
        task_id="r",
        org_external_id="acme",
        group_id=str(GROUP),
        user_ids=[ADMIN, "someone-else", two_users[1]],
    ).execute(_context())

    assert result["removed"] == [ADMIN, two_users[1]]
    assert result["not_members"] == ["someone-else"]
    assert groups(sim)[seed.DEMO_USER_GROUP_NAME]["members"] == [two_users[0]]


@pytest.mark.parametrize(
    ("user_ids", "message"),
    [
        (["a/b"], "not a valid Learnifier id"),
        ([None], "not an id"),
        ("[1, ", "neither"),
        (object(), "list of ids"),
    ],
)
def test_bad_user_ids_are_refused(learnifier_conn, user_ids, message):
    operator = LearnifierAddUserGroupMembersOperator(
        task_id="add", org_id=ORG, group_id=GROUP, user_ids=user_ids
    )
    with pytest.raises(LearnifierInputError, match=message):
        operator.execute(_context())
