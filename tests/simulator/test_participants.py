"""Participants: adding, conflicts, activation, login links, deletion and progress."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest

from learnifier_simulator import LearnifierSimulator, seed
from tests.openapi_contract import validate_all
from tests.simulator.client import ApiClient, error_body

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"
PROJECT = f"{ORG}/projects/{seed.DEMO_PROJECT_ID}"


def add(api: ApiClient, body: dict[str, Any], project: str = PROJECT) -> str:
    """Add a participant and return its path."""
    return urlsplit(api.post(f"{project}/participants", json=body, expect=201).headers["Location"]).path


def test_an_unknown_email_creates_a_user_with_default_values(api: ApiClient) -> None:
    participant_path = add(api, {"email": "New.Person@acme.example", "extid": "np-1"})

    participant = api.get("/extparticipation", params={"extid": "np-1"}).json()
    user = api.get(f"/users/{participant['userId']}").json()
    assert participant_path == f"{PROJECT}/participants/{participant['id']}"
    assert participant["activated"] is False
    assert (participant["activitiesCompleted"], participant["activitiesTotal"]) == (
        0,
        seed.ONBOARDING_ACTIVITIES,
    )
    assert user["primaryEmail"] == "New.Person@acme.example"
    assert user["homeOrg"] == seed.DEMO_ORG_UNIT_ID
    assert user["hardLock"] is False


def test_emails_match_existing_users_in_any_case(api: ApiClient) -> None:
    add(api, {"email": seed.DEMO_ADMIN_EMAIL.upper()})

    [participant] = api.get(f"{PROJECT}/participants").json()
    assert participant["userId"] == seed.DEMO_ADMIN_USER_ID
    assert len(api.get("/users").json()) == 1


def test_conflicts_point_at_the_existing_participant(api: ApiClient, sim: LearnifierSimulator) -> None:
    existing = add(api, {"userid": seed.DEMO_ADMIN_USER_ID, "extid": "admin-onboarding"})

    again = api.post(f"{PROJECT}/participants", json={"email": seed.DEMO_ADMIN_EMAIL}, expect=409)
    taken_extid = api.post(
        f"{PROJECT}/participants",
        json={"email": "other@acme.example", "extid": "admin-onboarding"},
        expect=409,
    )

    assert again.headers["Location"] == sim.base_url + existing
    assert error_body(again)["field"] == "email"
    assert taken_extid.headers["Location"] == sim.base_url + existing
    assert error_body(taken_extid)["field"] == "extid"
    assert len(api.get(f"{PROJECT}/participants").json()) == 1
    api.get("/extuser", params={"extid": "other"}, expect=404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"extid": "only"}, "email"),
        ({"email": "a@acme.example", "userid": seed.DEMO_ADMIN_USER_ID}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"userid": "7d5b1c2e-0000-4000-8000-000000000000"}, "userid"),
        ({"email": 42}, "email"),
    ],
)
def test_invalid_participants_are_refused(api: ApiClient, body: dict[str, Any], field: str) -> None:
    response = api.post(f"{PROJECT}/participants", json=body, expect=422, valid_request=False)

    assert error_body(response)["field"] == field
    assert api.get(f"{PROJECT}/participants").json() == []


def test_unknown_projects_and_participants(api: ApiClient) -> None:
    api.post(f"{ORG}/projects/999/participants", json={"email": "a@acme.example"}, expect=404)
    api.get(f"{ORG}/projects/999/participants", expect=404)
    api.post(f"{PROJECT}/participants/999/activate", expect=404)
    api.post(f"{PROJECT}/participants/999/loginlink", expect=404)
    api.delete(f"{PROJECT}/participants/999", expect=404)
    api.get("/extparticipation", params={"extid": "nope"}, expect=404)
    api.get("/extparticipation", expect=400, valid_request=False)


def test_activation_is_idempotent(api: ApiClient, sim: LearnifierSimulator) -> None:
    path = add(api, {"email": "learner@acme.example", "extid": "l-1"})

    api.post(f"{path}/activate", expect=201)
    first = api.get("/extparticipation", params={"extid": "l-1"}).json()
    again = api.post(f"{path}/activate", expect=201)
    second = api.get("/extparticipation", params={"extid": "l-1"}).json()

    assert again.content == b""
    assert first["activated"] is True
    assert first["accessLink"].startswith(f"{sim.base_url}/access/")
    assert first["expiration"] > first["firstActivation"]
    assert second["firstActivation"] == first["firstActivation"]
    assert second["lastActivation"] >= first["lastActivation"]
    assert second["accessLink"] == first["accessLink"]


def test_activation_of_a_locked_user_fails_with_failures(api: ApiClient) -> None:
    user_id = api.post(
        "/users", json={"primaryEmail": "locked@acme.example", "hardLock": True}, expect=200
    ).json()["userId"]
    path = add(api, {"userid": user_id, "extid": "locked"})

    refused = error_body(api.post(f"{path}/activate", expect=406))

    assert refused["failures"] == [
        {
            "type": "USER_LOCKED",
            "message": "The user is locked by an administrator",
            "productId": str(seed.DEMO_PROJECT_ID),
        }
    ]
    assert api.get("/extparticipation", params={"extid": "locked"}).json()["activated"] is False


def test_activation_in_a_disabled_project_fails(api: ApiClient) -> None:
    path = add(api, {"email": "learner@acme.example"})
    api.patch(PROJECT, json={"status": "DISABLED"}, expect=200)

    refused = error_body(api.post(f"{path}/activate", expect=406))

    assert [failure["type"] for failure in refused["failures"]] == ["PROJECT_DISABLED"]


def test_login_links_need_an_activated_participant(api: ApiClient, sim: LearnifierSimulator) -> None:
    path = add(api, {"email": "learner@acme.example"})

    error_body(api.post(f"{path}/loginlink", expect=422))
    api.post(f"{path}/activate", expect=201)
    first = api.post(f"{path}/loginlink", expect=200).json()["link"]
    second = api.post(f"{path}/loginlink", expect=200).json()["link"]

    assert first.startswith(f"{sim.base_url}/login/")
    assert first != second


def test_a_deleted_participant_is_gone(api: ApiClient) -> None:
    path = add(api, {"email": "learner@acme.example", "extid": "gone"})

    response = api.delete(path, expect=204)

    assert response.content == b""
    assert api.get(f"{PROJECT}/participants").json() == []
    api.get("/extparticipation", params={"extid": "gone"}, expect=404)
    api.delete(path, expect=404)


def test_progress_advances_activated_participants_only(api: ApiClient, sim: LearnifierSimulator) -> None:
    active = add(api, {"email": "active@acme.example", "extid": "active"})
    add(api, {"email": "idle@acme.example", "extid": "idle"})
    api.post(f"{active}/activate", expect=201)

    advanced = sim.advance_progress(activities=2)
    sim.advance_progress(activities=2)
    after_two_steps = api.get("/extparticipation", params={"extid": "active"}).json()
    sim.advance_progress(activities=10)
    capped = api.get("/extparticipation", params={"extid": "active"}).json()

    assert [p["externalId"] for p in advanced] == ["active"]
    assert after_two_steps["activitiesCompleted"] == 4
    assert after_two_steps["firstAccess"] == advanced[0]["firstAccess"]
    assert after_two_steps["lastAccess"] >= advanced[0]["lastAccess"]
    assert capped["activitiesCompleted"] == seed.ONBOARDING_ACTIVITIES
    assert sim.advance_progress() == []  # nothing left to do
    assert api.get("/extparticipation", params={"extid": "idle"}).json()["activitiesCompleted"] == 0


def test_progress_made_in_the_past_says_so_in_last_access(api: ApiClient, sim: LearnifierSimulator) -> None:
    active = add(api, {"email": "veteran@acme.example", "extid": "veteran"})
    api.post(f"{active}/activate", expect=201)

    (advanced,) = sim.advance_progress(complete=True, at=datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc))

    assert advanced["lastAccess"] == advanced["firstAccess"] == "2025-03-01T12:00:00.000Z"
    assert api.get("/extparticipation", params={"extid": "veteran"}).json()["lastAccess"] == (
        "2025-03-01T12:00:00.000Z"
    )


def test_progress_can_target_a_project_or_a_participant(api: ApiClient, sim: LearnifierSimulator) -> None:
    project_id = api.post(f"{ORG}/projects", json={"name": "Security", "designId": 102}, expect=201).json()[
        "id"
    ]
    first = add(api, {"email": "first@acme.example", "extid": "first"})
    second = add(api, {"email": "second@acme.example", "extid": "second"})
    third = add(
        api, {"email": "third@acme.example", "extid": "third"}, project=f"{ORG}/projects/{project_id}"
    )
    for path in (first, second, third):
        api.post(f"{path}/activate", expect=201)

    by_project = sim.advance_progress(project_id=project_id, complete=True)
    by_participant = sim.advance_progress(participant_id=second.rsplit("/", 1)[1])

    assert [(p["externalId"], p["activitiesCompleted"]) for p in by_project] == [("third", 4)]
    assert [(p["externalId"], p["activitiesCompleted"]) for p in by_participant] == [("second", 1)]
    participations = api.get(f"/users/{by_project[0]['userId']}/projectParticipations").json()
    assert participations[0]["projectName"] == "Security"
    assert participations[0]["activitiesCompleted"] == participations[0]["activitiesTotal"] == 4


def test_progress_and_state_over_http(
    api: ApiClient, sim: LearnifierSimulator, openapi_spec: dict[str, Any]
) -> None:
    path = add(api, {"email": "learner@acme.example", "extid": "l-1"})
    api.post(f"{path}/activate", expect=201)
    url = f"{sim.base_url}/_simulator/advance"

    advanced = api.session.post(
        url, json={"projectId": str(seed.DEMO_PROJECT_ID), "activities": 3}, verify=sim.ca_file
    )
    completed = api.session.post(url, json={"complete": True}, verify=sim.ca_file)
    one_step = api.session.post(url, verify=sim.ca_file)
    invalid = api.session.post(url, json={"activities": -1}, verify=sim.ca_file)
    unauthenticated = api.session.post(url, auth=("sim-key", "wrong"), verify=sim.ca_file)
    state = api.session.get(f"{sim.base_url}/_simulator/state", verify=sim.ca_file)

    assert advanced.status_code == 200
    assert [p["activitiesCompleted"] for p in advanced.json()["advanced"]] == [3]
    assert [p["activitiesCompleted"] for p in completed.json()["advanced"]] == [seed.ONBOARDING_ACTIVITIES]
    assert one_step.json() == {"advanced": []}
    assert (invalid.status_code, error_body(invalid)["field"]) == (422, "activities")
    assert unauthenticated.status_code == 401
    snapshot = state.json()
    assert snapshot == sim.state.snapshot()
    assert [p["externalId"] for p in snapshot["participants"]] == ["l-1"]
    assert snapshot["userGroups"][0]["members"] == [seed.DEMO_ADMIN_USER_ID]
    control = [exchange for exchange in sim.exchanges if exchange.control]
    assert len(control) == 6
    assert all(exchange.operation is None for exchange in control)
    validate_all(openapi_spec, sim.exchanges)
