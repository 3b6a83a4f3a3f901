"""The user group operators against the simulator: create (or reuse), add and remove members."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import (
    LearnifierBulkOperationError,
    LearnifierInputError,
    LearnifierUncertainWriteError,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.user_groups import (
    LearnifierAddUserGroupMembersOperator,
    LearnifierCreateUserGroupOperator,
    LearnifierRemoveUserGroupMembersOperator,
)
from learnifier_simulator import seed
from learnifier_simulator.messages import ApiResponse
from tests.openapi_contract import validate_all
from tests.operators.variants import rewrite_responses

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
        # Not encodable into a URL path: a typed error naming the id, not a raw UnicodeEncodeError.
        (["ok-id", "bad\ud800id"], "lone surrogate"),
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


def _listing_with_other_names(request: Any, answer: ApiResponse) -> ApiResponse:
    """The group listing as a server may give it: ``id`` for ``groupId``, ``parentId`` for ``parent``."""
    if (request.method, request.path, answer.status) != ("GET", f"/orgunits/{ORG}/usergroups", 200):
        return answer
    renamed = [
        {{"groupId": "id", "parent": "parentId"}.get(key, key): value for key, value in group.items()}
        for group in json.loads(answer.body)
    ]
    return ApiResponse.json(200, renamed)


def test_a_listing_that_names_the_id_id_and_the_parent_parentid_is_read(learnifier_conn, monkeypatch):
    """The spec's listing may name the id ``id`` and the parent ``parentId``: both are read."""
    sim = learnifier_conn
    with LearnifierHook() as hook:
        child = str(hook.create_user_group(ORG, name="Managers", parent=GROUP))
    rewrite_responses(sim, monkeypatch, _listing_with_other_names)

    found = LearnifierCreateUserGroupOperator(task_id="g", name="Managers", org_id=ORG, parent=GROUP).execute(
        _context()
    )
    top_level = LearnifierCreateUserGroupOperator(task_id="g", name="Managers", org_id=ORG).execute(
        _context()
    )

    assert (found["group_id"], found["reused"]) == (child, True)
    assert top_level["reused"] is False and top_level["group_id"] != child
    assert top_level["parent"] is None


def test_a_create_answer_that_names_the_id_id_is_read(learnifier_conn, monkeypatch):
    """The spec leaves user-group objects undefined: a server may answer ``[{"id": ...}]``."""
    sim = learnifier_conn

    def renamed(request: Any, answer: ApiResponse) -> ApiResponse:
        if (request.method, request.path) != ("POST", f"/orgunits/{ORG}/usergroups") or answer.status >= 300:
            return answer
        return ApiResponse.json(200, [{"id": group["groupId"]} for group in json.loads(answer.body)])

    rewrite_responses(sim, monkeypatch, renamed)
    with LearnifierHook() as hook:
        assert hook.create_user_group(ORG, name="Readers") == str(groups(sim)["Readers"]["groupId"])
    result = LearnifierCreateUserGroupOperator(task_id="g", name="Auditors", org_id=ORG).execute(_context())

    assert result["reused"] is False
    assert result["group_id"] == str(groups(sim)["Auditors"]["groupId"])


def test_a_parent_rendered_none_is_no_parent(learnifier_conn):
    """A template that renders ``None`` gives no parent: ``"parent": "None"`` would be refused."""
    sim = learnifier_conn
    result = LearnifierCreateUserGroupOperator(task_id="g", name="Top", org_id=ORG, parent="None").execute(
        _context()
    )

    assert (result["parent"], result["reused"]) == (None, False)
    (create,) = [e for e in sim.exchanges if e.method == "POST"]
    assert json.loads(create.body) == {"name": "Top"}


def test_a_500_on_create_is_checked_then_sent_once_more(learnifier_conn):
    """A 5xx may have been applied: read, then send again. Before, a 500 failed the task."""
    sim = learnifier_conn
    sim.inject(status=500, method="POST", path=f"/orgunits/{ORG}/usergroups")
    result = LearnifierCreateUserGroupOperator(task_id="g", name="Lost", org_id=ORG).execute(_context())

    assert str(groups(sim)["Lost"]["groupId"]) == result["group_id"]
    assert [e.status for e in sim.exchanges if e.method == "POST"] == [500, 200]


def test_a_502_on_create_is_not_sent_again(learnifier_conn):
    """A group is not deduplicated, and Learnifier may still be creating it: the next run settles it."""
    sim = learnifier_conn
    sim.inject(status=502, method="POST", path=f"/orgunits/{ORG}/usergroups")
    with pytest.raises(LearnifierUncertainWriteError):
        LearnifierCreateUserGroupOperator(task_id="g", name="Lost", org_id=ORG).execute(_context())
    assert "Lost" not in groups(sim)


def test_a_409_already_a_member_is_success(learnifier_conn, two_users, monkeypatch):
    """Another run may add the user meanwhile: a 409 "already a member" is the state we wanted."""
    sim = learnifier_conn
    members_path = f"/orgunits/{ORG}/usergroups/{GROUP}/members"
    conflict = {"code": 409, "message": "The user is already a member"}
    rewrite_responses(
        sim,
        monkeypatch,
        lambda request, answer: (
            ApiResponse.json(409, conflict)
            if (request.method, request.path, request.body)
            == ("POST", members_path, json.dumps({"uuid": two_users[0]}).encode())
            else answer
        ),
    )
    result = LearnifierAddUserGroupMembersOperator(
        task_id="add", org_id=ORG, group_id=GROUP, user_ids=two_users
    ).execute(_context())

    assert result["failed"] == []
    assert result["added"] == [two_users[1]]
    assert result["already_members"] == [two_users[0]]


def test_a_409_for_a_user_who_is_not_a_member_stays_a_failure(learnifier_conn, two_users):
    sim = learnifier_conn
    sim.inject(status=409, method="POST", path=f"/orgunits/{ORG}/usergroups/{GROUP}/members")
    with pytest.raises(LearnifierBulkOperationError, match="1 of 1 user"):
        LearnifierAddUserGroupMembersOperator(
            task_id="add", org_id=ORG, group_id=GROUP, user_ids=[two_users[0]]
        ).execute(_context())
    assert two_users[0] not in groups(sim)[seed.DEMO_USER_GROUP_NAME]["members"]


def test_a_500_on_add_member_is_checked_then_sent_once_more(learnifier_conn, two_users):
    """Before, a 500 failed the user although sending the add again is safe."""
    sim = learnifier_conn
    sim.inject(status=500, method="POST", path=f"/orgunits/{ORG}/usergroups/{GROUP}/members")
    result = LearnifierAddUserGroupMembersOperator(
        task_id="add", org_id=ORG, group_id=GROUP, user_ids=[two_users[0]]
    ).execute(_context())

    assert (result["added"], result["failed"]) == ([two_users[0]], [])
    assert two_users[0] in groups(sim)[seed.DEMO_USER_GROUP_NAME]["members"]
