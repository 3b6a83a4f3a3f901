"""Every operation of the OpenAPI description, answered successfully and within the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learnifier_simulator import LearnifierSimulator, seed
from learnifier_simulator.routes import ROUTES
from tests.openapi_contract import spec_operations, validate_all

if TYPE_CHECKING:
    from tests.simulator.client import ApiClient

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"


def test_the_routes_serve_exactly_the_operations_of_the_spec(openapi_spec: dict[str, Any]) -> None:
    served = {route.operation for route in ROUTES if route.operation is not None}

    assert served == {operation.key for operation in spec_operations(openapi_spec)}
    assert len(served) == 34


def test_a_tour_of_all_34_operations(
    api: ApiClient, sim: LearnifierSimulator, openapi_spec: dict[str, Any]
) -> None:
    designs = api.get("/coursedesigns").json()
    assert [(d["id"], d["name"]) for d in designs] == [
        (seed.ONBOARDING_DESIGN_ID, "Onboarding"),
        (seed.SECURITY_AWARENESS_DESIGN_ID, "Security Awareness"),
        (seed.CODE_OF_CONDUCT_DESIGN_ID, "Code of Conduct"),
    ]

    # Organization units.
    assert api.get("/orgunits").json()["orgUnits"][0]["externalId"] == seed.DEMO_ORG_UNIT_EXTERNAL_ID
    org_id = api.post("/orgunits", json={"displayName": "Globex", "externalId": "globex"}, expect=200).json()[
        "ouId"
    ]
    assert api.get(f"/orgunits/{org_id}").json() == {
        "id": org_id,
        "type": "CLIENT",
        "name": "Globex",
        "externalId": "globex",
    }
    api.patch(
        f"/orgunits/{org_id}",
        json={"displayName": "Globex Corp", "parent": seed.DEMO_ORG_UNIT_ID},
        expect=201,
    )
    assert api.get("/extorgunit", params={"extid": "globex"}).json()["parentId"] == seed.DEMO_ORG_UNIT_ID

    # Projects.
    assert [p["id"] for p in api.get(f"{ORG}/projects").json()] == [seed.DEMO_PROJECT_ID]
    project = api.post(
        f"{ORG}/projects",
        json={
            "name": "Security 2025",
            "designId": seed.SECURITY_AWARENESS_DESIGN_ID,
            "externalId": "sec-2025",
            "createdBy": seed.DEMO_ADMIN_USER_ID,
        },
        expect=201,
    ).json()
    project_path = f"{ORG}/projects/{project['id']}"
    assert api.get(project_path).json() == project
    assert api.patch(project_path, json={"status": "ACTIVATED"}, expect=200).json()["status"] == "ACTIVATED"
    assert api.get("/extproject", params={"extid": "sec-2025"}).json()["id"] == project["id"]
    assert [m["userid"] for m in api.get(f"{project_path}/teammembers").json()] == [seed.DEMO_ADMIN_USER_ID]

    # Users.
    user_id = api.post(
        "/users",
        json={"primaryEmail": "grace@acme.example", "externalId": "grace", "firstName": "Grace"},
        expect=200,
    ).json()["userId"]
    assert [u["id"] for u in api.get("/users").json()] == [seed.DEMO_ADMIN_USER_ID, user_id]
    assert api.get(f"/users/{user_id}").json()["displayName"] == "Grace"
    api.patch(f"/users/{user_id}", json={"lastName": "Hopper", "displayName": "Grace Hopper"}, expect=201)
    assert api.get("/extuser", params={"extid": "grace"}).json()["displayName"] == "Grace Hopper"

    # Participants.
    location = api.post(
        f"{project_path}/participants", json={"userid": user_id, "extid": "grace-sec"}, expect=201
    ).headers["Location"]
    participant_path = location.removeprefix(sim.base_url)
    participants = api.get(f"{project_path}/participants").json()
    assert [p["userId"] for p in participants] == [user_id]
    assert participant_path == f"{project_path}/participants/{participants[0]['id']}"
    api.post(f"{participant_path}/activate", expect=201)
    assert (
        api.post(f"{participant_path}/loginlink", expect=200)
        .json()["link"]
        .startswith(f"{sim.base_url}/login/")
    )
    assert api.get("/extparticipation", params={"extid": "grace-sec"}).json()["activated"] is True
    participations = api.get(f"/users/{user_id}/projectParticipations").json()
    assert [p["projectName"] for p in participations] == ["Security 2025"]
    assert api.get(f"/users/{user_id}/pic", params={"key": sim.key}).headers["Content-Type"] == "image/png"
    api.delete(participant_path, expect=204)
    api.delete(project_path, expect=204)

    # User groups.
    assert [g["groupId"] for g in api.get(f"{ORG}/usergroups").json()] == [seed.DEMO_USER_GROUP_ID]
    group_id = api.post(f"{ORG}/usergroups", json={"name": "Engineers"}, expect=200).json()[0]["groupId"]
    assert api.get(f"{ORG}/usergroups/{group_id}").json() == {"groupId": group_id, "name": "Engineers"}
    assert api.post(f"{ORG}/usergroups/{group_id}/members", json={"uuid": user_id}, expect=200).json() == {
        "uuid": user_id
    }
    assert [u["id"] for u in api.get(f"{ORG}/usergroups/{group_id}/members").json()] == [user_id]
    api.delete(f"{ORG}/usergroups/{group_id}/members/{user_id}", expect=200)

    # Global user groups.
    assert [g["id"] for g in api.get("/globalusergroups").json()] == [seed.DEMO_GLOBAL_USER_GROUP_ID]
    members = api.get(f"/globalusergroups/{seed.DEMO_GLOBAL_USER_GROUP_ID}/members").json()
    assert [u["id"] for u in members] == [seed.DEMO_ADMIN_USER_ID]

    exercised = {exchange.operation for exchange in sim.exchanges}
    assert exercised == {operation.key for operation in spec_operations(openapi_spec)}
    validate_all(openapi_spec, sim.exchanges)
