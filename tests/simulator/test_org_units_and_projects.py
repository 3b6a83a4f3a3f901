"""Organization units and projects: creation, conflicts, updates, lookups and deletion."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from learnifier_simulator import LearnifierSimulator, seed
from learnifier_simulator.models import PROJECT_MANAGER_ROLE
from tests.simulator.client import ApiClient, error_body

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"
PROJECT = f"{ORG}/projects/{seed.DEMO_PROJECT_ID}"


def test_org_unit_conflicts_name_the_taken_field(api: ApiClient) -> None:
    taken_external_id = api.post("/orgunits", json={"displayName": "Copy", "externalId": "acme"}, expect=409)
    taken_client_number = api.post(
        "/orgunits",
        json={"displayName": "Copy", "clientNumber": seed.DEMO_ORG_UNIT_CLIENT_NUMBER},
        expect=409,
    )

    assert error_body(taken_external_id)["field"] == "externalId"
    assert error_body(taken_client_number)["field"] == "clientNumber"
    assert len(api.get("/orgunits").json()["orgUnits"]) == 1


def test_org_unit_body_errors(api: ApiClient) -> None:
    missing = api.post("/orgunits", json={"externalId": "x"}, expect=422, valid_request=False)
    wrong_type = api.post("/orgunits", json={"displayName": ["Acme"]}, expect=422, valid_request=False)
    unknown_parent = api.post("/orgunits", json={"displayName": "Sub", "parent": 999}, expect=422)

    assert error_body(missing)["field"] == "displayName"
    assert error_body(wrong_type)["field"] == "displayName"
    assert error_body(unknown_parent)["field"] == "parent"


def test_org_unit_updates(api: ApiClient) -> None:
    other = api.post("/orgunits", json={"displayName": "Globex", "clientNumber": "C-2"}, expect=200).json()[
        "ouId"
    ]

    conflict = api.patch(f"/orgunits/{other}", json={"externalId": "acme"}, expect=409)
    own_values = api.patch(
        ORG, json={"externalId": "acme", "clientNumber": seed.DEMO_ORG_UNIT_CLIENT_NUMBER}, expect=201
    )
    self_parent = api.patch(ORG, json={"parent": seed.DEMO_ORG_UNIT_ID}, expect=422)
    api.patch("/orgunits/999", json={"displayName": "Nobody"}, expect=404)
    api.patch(f"/orgunits/{other}", json={"externalId": "globex", "displayName": "Globex Corp"}, expect=201)

    assert error_body(conflict)["field"] == "externalId"
    assert own_values.content == b""
    assert error_body(self_parent)["field"] == "parent"
    assert api.get("/extorgunit", params={"extid": "globex"}).json()["name"] == "Globex Corp"


def test_org_unit_lookups(api: ApiClient) -> None:
    error_body(api.get("/orgunits/999", expect=404))
    error_body(api.get("/extorgunit", params={"extid": "nope"}, expect=404))
    missing = api.get("/extorgunit", expect=400, valid_request=False)

    assert error_body(missing)["field"] == "extid"
    # Ids in paths are compared as strings: "01001" is not 1001.
    api.get(f"/orgunits/0{seed.DEMO_ORG_UNIT_ID}", expect=404)


def test_a_new_project_copies_its_design(api: ApiClient, sim: LearnifierSimulator) -> None:
    response = api.post(
        f"{ORG}/projects", json={"name": "Conduct", "designId": seed.CODE_OF_CONDUCT_DESIGN_ID}, expect=201
    )
    project = response.json()

    assert project["status"] == "NEW"
    assert project["userTitle"] == seed.CODE_OF_CONDUCT_DESIGN_NAME
    assert project["designId"] == seed.CODE_OF_CONDUCT_DESIGN_ID
    assert project["adminUrl"] == f"{sim.base_url}/admin/projects/{project['id']}"
    assert response.headers["Location"] == f"{sim.base_url}{ORG}/projects/{project['id']}"
    assert project["created"].endswith("Z")
    datetime.fromisoformat(project["created"].replace("Z", "+00:00"))
    assert "createdBy" not in project  # unknown values are left out, never null
    assert api.get(f"{ORG}/projects/{project['id']}/teammembers").json() == []


def test_project_creation_errors(api: ApiClient) -> None:
    unknown_design = api.post(f"{ORG}/projects", json={"name": "X", "designId": 999}, expect=422)
    missing_name = api.post(f"{ORG}/projects", json={"designId": 101}, expect=422, valid_request=False)
    unknown_creator = api.post(
        f"{ORG}/projects",
        json={"name": "X", "designId": 101, "createdBy": "7d5b1c2e-0000-4000-8000-000000000000"},
        expect=422,
    )
    taken = api.post(
        f"{ORG}/projects",
        json={"name": "X", "designId": 101, "externalId": seed.DEMO_PROJECT_EXTERNAL_ID},
        expect=409,
    )
    api.post("/orgunits/999/projects", json={"name": "X", "designId": 101}, expect=404)

    assert error_body(unknown_design)["field"] == "designId"
    assert error_body(missing_name)["field"] == "name"
    assert error_body(unknown_creator)["field"] == "createdBy"
    assert error_body(taken)["field"] == "externalId"
    assert [p["id"] for p in api.get(f"{ORG}/projects").json()] == [seed.DEMO_PROJECT_ID]


def test_project_lookups_and_updates(api: ApiClient) -> None:
    other_org = api.post("/orgunits", json={"displayName": "Globex"}, expect=200).json()["ouId"]

    api.get(f"/orgunits/{other_org}/projects/{seed.DEMO_PROJECT_ID}", expect=404)
    api.get(f"{ORG}/projects/999", expect=404)
    api.get("/extproject", params={"extid": "nope"}, expect=404)
    bad_status = api.patch(PROJECT, json={"status": "ARCHIVED"}, expect=422, valid_request=False)
    updated = api.patch(PROJECT, json={"status": "DISABLED", "note": "paused"}, expect=200).json()

    assert error_body(bad_status)["field"] == "status"
    assert (updated["status"], updated["note"], updated["name"]) == (
        "DISABLED",
        "paused",
        seed.DEMO_PROJECT_NAME,
    )
    assert api.get("/extproject", params={"extid": seed.DEMO_PROJECT_EXTERNAL_ID}).json() == updated


def test_a_project_with_participants_cannot_be_deleted(api: ApiClient) -> None:
    location = api.post(f"{PROJECT}/participants", json={"email": "x@acme.example"}, expect=201).headers[
        "Location"
    ]

    refused = api.delete(PROJECT, expect=406)
    assert "participant" in error_body(refused)["message"]

    api.delete(urlsplit(location).path, expect=204)
    api.delete(PROJECT, expect=204)
    api.get(PROJECT, expect=404)
    api.delete(PROJECT, expect=404)


def test_the_seeded_admin_is_on_the_team(api: ApiClient) -> None:
    team = api.get(f"{PROJECT}/teammembers").json()

    role = {"roleid": PROJECT_MANAGER_ROLE.role_id, "name": "Project Manager"}
    assert team == [{"userid": seed.DEMO_ADMIN_USER_ID, "roles": [role]}]
