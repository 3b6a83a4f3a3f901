"""Participations in error: set and cleared by tests and demos, shown by the API, refused login links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from learnifier_simulator import ApiError, LearnifierSimulator, seed
from tests.openapi_contract import validate_all
from tests.simulator.client import ApiClient, error_body

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"
PROJECT = f"{ORG}/projects/{seed.DEMO_PROJECT_ID}"


def add_activated(api: ApiClient, email: str, extid: str) -> tuple[str, int]:
    """Add and activate a participant; return its path and id."""
    location = api.post(f"{PROJECT}/participants", json={"email": email, "extid": extid}, expect=201)
    path = urlsplit(location.headers["Location"]).path
    api.post(f"{path}/activate", expect=201)
    return path, int(path.rsplit("/", 1)[1])


def by_extid(api: ApiClient, extid: str) -> dict[str, Any]:
    return api.get("/extparticipation", params={"extid": extid}).json()


def test_participants_start_without_error(api: ApiClient) -> None:
    add_activated(api, "fine@acme.example", "fine")

    participant = by_extid(api, "fine")

    assert participant["inError"] is False
    assert "errorMessage" not in participant


def test_an_error_shows_everywhere_until_cleared(api: ApiClient, sim: LearnifierSimulator) -> None:
    _, participant_id = add_activated(api, "broken@acme.example", "broken")

    returned = sim.set_participant_error(participant_id, "Seat license expired")
    listed = api.get(f"{PROJECT}/participants").json()
    found = by_extid(api, "broken")
    of_user = api.get(f"/users/{found['userId']}/projectParticipations").json()
    in_snapshot = sim.state.snapshot()["participants"]
    cleared = sim.set_participant_error(str(participant_id), None)

    for participation in (returned, listed[0], found, of_user[0], in_snapshot[0]):
        assert (participation["inError"], participation["errorMessage"]) == (True, "Seat license expired")
    assert cleared["inError"] is False
    assert "errorMessage" not in cleared
    assert by_extid(api, "broken") == cleared


def test_an_error_may_come_without_a_message(api: ApiClient, sim: LearnifierSimulator) -> None:
    _, participant_id = add_activated(api, "quiet@acme.example", "quiet")

    sim.set_participant_error(participant_id, "")
    participant = by_extid(api, "quiet")

    assert participant["inError"] is True
    assert "errorMessage" not in participant


def test_a_participant_in_error_gets_no_login_link(api: ApiClient, sim: LearnifierSimulator) -> None:
    path, participant_id = add_activated(api, "learner@acme.example", "learner")
    api.post(f"{path}/loginlink", expect=200)

    sim.set_participant_error(participant_id, "Payment missing")
    refused = error_body(api.post(f"{path}/loginlink", expect=422))
    sim.set_participant_error(participant_id, None)

    assert "in error" in refused["message"]
    assert "Payment missing" in refused["message"]
    assert api.post(f"{path}/loginlink", expect=200).json()["link"].startswith(f"{sim.base_url}/login/")


def test_an_unactivated_participant_in_error_is_refused_as_unactivated(
    api: ApiClient, sim: LearnifierSimulator
) -> None:
    location = api.post(f"{PROJECT}/participants", json={"email": "new@acme.example"}, expect=201)
    path = urlsplit(location.headers["Location"]).path
    sim.set_participant_error(path.rsplit("/", 1)[1], "Broken")

    refused = error_body(api.post(f"{path}/loginlink", expect=422))

    assert "not activated" in refused["message"]


def test_progress_skips_participants_in_error(api: ApiClient, sim: LearnifierSimulator) -> None:
    _, stuck_id = add_activated(api, "stuck@acme.example", "stuck")
    add_activated(api, "moving@acme.example", "moving")
    sim.set_participant_error(stuck_id, "Broken")

    advanced = sim.advance_progress(complete=True)
    targeted = sim.advance_progress(participant_id=stuck_id, complete=True)
    sim.set_participant_error(stuck_id, None)
    after_clearing = sim.advance_progress(participant_id=stuck_id)

    assert [p["externalId"] for p in advanced] == ["moving"]
    assert targeted == []
    assert by_extid(api, "stuck")["activitiesCompleted"] == 1
    assert [p["externalId"] for p in after_clearing] == ["stuck"]


def test_activation_leaves_the_error_as_it_is(api: ApiClient, sim: LearnifierSimulator) -> None:
    path, participant_id = add_activated(api, "learner@acme.example", "learner")
    sim.set_participant_error(participant_id, "Broken")

    api.post(f"{path}/activate", expect=201)

    assert by_extid(api, "learner")["inError"] is True


@pytest.mark.parametrize("participant_id", [999, "999", "nope"])
def test_unknown_participants_cannot_be_put_in_error(sim: LearnifierSimulator, participant_id: Any) -> None:
    with pytest.raises(ApiError) as raised:
        sim.set_participant_error(participant_id, "Broken")

    assert raised.value.status == 404


def test_errors_over_the_control_api(
    api: ApiClient, sim: LearnifierSimulator, openapi_spec: dict[str, Any]
) -> None:
    _, participant_id = add_activated(api, "learner@acme.example", "learner")
    url = f"{sim.base_url}/_simulator/participant-error"

    def post(**kwargs: Any) -> Any:
        return api.session.post(url, verify=sim.ca_file, timeout=10, **kwargs)

    set_by_number = post(json={"participantId": participant_id, "message": "Seat license expired"})
    shown = by_extid(api, "learner")
    cleared_by_null = post(json={"participantId": str(participant_id), "message": None})
    set_without_message = post(json={"participantId": participant_id, "message": ""})
    cleared_by_absence = post(json={"participantId": participant_id})
    unknown = post(json={"participantId": 999, "message": "x"})
    missing_id = post(json={"message": "x"})
    wrong_type = post(json={"participantId": participant_id, "message": 5})
    no_body = post()
    unauthenticated = post(json={"participantId": participant_id, "message": "x"}, auth=("sim-key", "wrong"))

    assert set_by_number.status_code == 200
    assert set_by_number.json() == shown
    assert (shown["inError"], shown["errorMessage"]) == (True, "Seat license expired")
    assert cleared_by_null.json()["inError"] is False
    assert set_without_message.json()["inError"] is True
    assert "errorMessage" not in set_without_message.json()
    assert cleared_by_absence.json()["inError"] is False
    assert (unknown.status_code, error_body(unknown)["field"]) == (404, "participantId")
    assert (missing_id.status_code, error_body(missing_id)["field"]) == (422, "participantId")
    assert (wrong_type.status_code, error_body(wrong_type)["field"]) == (422, "message")
    assert no_body.status_code == 400
    assert unauthenticated.status_code == 401
    assert by_extid(api, "learner")["inError"] is False
    validate_all(openapi_spec, sim.exchanges)
