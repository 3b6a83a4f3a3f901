"""A large account (200 projects x 100 participants), built straight into the state: listings and
lookups answer from the indexes, in creation order, and follow every change. No timing here."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from learnifier_simulator import ApiError, SimulatorState, seed
from learnifier_simulator.models import OrgUnit, Participant, Project, User, UserGroup
from learnifier_simulator.seed import seeded_state

ORG = str(seed.DEMO_ORG_UNIT_ID)
OTHER_ORG = 1002
PROJECTS = 200
PER_PROJECT = 100
FIRST_PROJECT = 10_001
FIRST_PARTICIPANT = 100_001
CREATED = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)


def user_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1, version=4))


def project_id(index: int) -> int:
    return FIRST_PROJECT + index


def build() -> tuple[SimulatorState, dict[int, list[int]]]:
    """Return the large state, and each project's participant ids in creation order.

    Participants are created round-robin over the projects, so that each project's listing
    interleaves with the others' in creation order; every 7th project is in another org unit.
    """
    state = seeded_state("demo")
    users = [
        User(user_id(n), CREATED, primary_email=f"Employee{n}@Acme.example", external_id=f"emp-{n}")
        for n in range(PER_PROJECT)
    ]
    projects = [
        Project(
            project_id(index),
            OTHER_ORG if index % 7 == 0 else seed.DEMO_ORG_UNIT_ID,
            seed.ONBOARDING_DESIGN_ID,
            f"Course {index}",
            CREATED,
            seed.ONBOARDING_ACTIVITIES,
            external_id=f"course-{index}",
        )
        for index in range(PROJECTS)
    ]
    expected: dict[int, list[int]] = {project.id: [] for project in projects}
    participants = []
    for n in range(PROJECTS * PER_PROJECT):
        project, user = projects[n % PROJECTS], users[n // PROJECTS]
        participants.append(
            Participant(
                FIRST_PARTICIPANT + n, project.id, user.id, 5, external_id=f"p-{FIRST_PARTICIPANT + n}"
            )
        )
        expected[project.id].append(FIRST_PARTICIPANT + n)
    state.add_records(OrgUnit(OTHER_ORG, "Other"), *users)
    state.add_records(*projects)
    state.add_records(*participants)
    return state, expected


@pytest.fixture(scope="module")
def large() -> tuple[SimulatorState, dict[int, list[int]]]:
    """The large state, shared by the tests that only read it."""
    return build()


def ids(records: list[dict[str, Any]], key: str = "id") -> list[Any]:
    return [record[key] for record in records]


def test_projects_are_listed_per_org_unit_in_creation_order(large: tuple[SimulatorState, Any]) -> None:
    state, _ = large

    demo = ids(state.list_projects(ORG))
    other = ids(state.list_projects(str(OTHER_ORG)))

    assert demo == [seed.DEMO_PROJECT_ID] + [project_id(i) for i in range(PROJECTS) if i % 7]
    assert other == [project_id(i) for i in range(0, PROJECTS, 7)]


@pytest.mark.parametrize("index", [0, 1, 99, PROJECTS - 1])
def test_participants_are_listed_per_project_in_creation_order(
    large: tuple[SimulatorState, dict[int, list[int]]], index: int
) -> None:
    state, expected = large
    org = str(OTHER_ORG) if index % 7 == 0 else ORG

    listed = state.list_participants(org, str(project_id(index)))

    assert ids(listed) == expected[project_id(index)]
    assert len(listed) == PER_PROJECT
    assert {p["projectId"] for p in listed} == {project_id(index)}


def test_listings_match_a_full_scan(large: tuple[SimulatorState, dict[int, list[int]]]) -> None:
    state, _ = large
    snapshot = state.snapshot()

    for index in (3, 150):
        scanned = [p for p in snapshot["participants"] if p["projectId"] == project_id(index)]
        assert state.list_participants(ORG, str(project_id(index))) == scanned
    scanned_projects = [p for p in snapshot["projects"] if p["orgId"] == seed.DEMO_ORG_UNIT_ID]
    assert ids(state.list_projects(ORG)) == ids(scanned_projects)


def test_a_project_of_another_org_unit_is_not_found_there(large: tuple[SimulatorState, Any]) -> None:
    state, _ = large

    with pytest.raises(ApiError) as raised:
        state.list_participants(ORG, str(project_id(0)))

    assert raised.value.status == 404


def test_user_participations_and_lookups(large: tuple[SimulatorState, Any]) -> None:
    state, _ = large

    participations = state.list_user_participations(user_id(3))

    assert ids(participations, "projectId") == [project_id(i) for i in range(PROJECTS)]
    assert {p["userId"] for p in participations} == {user_id(3)}
    assert (
        state.participation_by_external_id(f"p-{FIRST_PARTICIPANT + 12_345}")["id"]
        == FIRST_PARTICIPANT + 12_345
    )
    assert state.project_by_external_id("course-42")["id"] == project_id(42)
    assert state.user_by_external_id("emp-77")["id"] == user_id(77)
    # The demo administrator comes first, then the employees: the last page has the last six.
    last_page, more = state.list_users(limit=10, offset=PER_PROJECT - 5)
    first_page, more_after_first = state.list_users(limit=3, offset=0)
    assert (ids(last_page), more) == ([user_id(n) for n in range(PER_PROJECT - 6, PER_PROJECT)], False)
    assert (ids(first_page), more_after_first) == ([seed.DEMO_ADMIN_USER_ID, user_id(0), user_id(1)], True)


def test_changes_keep_the_indexes_right() -> None:
    state, expected = build()
    project = str(project_id(1))
    second = expected[project_id(1)][1]

    state.delete_participant(ORG, project, str(second))
    # A known email, in another case: the existing user joins a project they are not in.
    new_project = state.add_project(
        ORG, {"name": "New", "designId": seed.ONBOARDING_DESIGN_ID, "externalId": "new"}
    )
    location = state.add_participant(
        ORG, str(new_project["id"]), {"email": "EMPLOYEE3@acme.EXAMPLE", "extid": "n-1"}
    )
    with pytest.raises(ApiError) as duplicate:
        state.add_participant(ORG, project, {"userid": user_id(3)})
    with pytest.raises(ApiError) as taken_extid:
        state.add_participant(ORG, str(new_project["id"]), {"email": "x@acme.example", "extid": "n-1"})

    listed = ids(state.list_participants(ORG, project))
    assert listed == [pid for pid in expected[project_id(1)] if pid != second]
    assert [p["userId"] for p in state.list_participants(ORG, str(new_project["id"]))] == [user_id(3)]
    assert location.endswith(f"/participants/{state.participation_by_external_id('n-1')['id']}")
    assert ids(state.list_user_participations(user_id(3)), "projectId")[-1] == new_project["id"]
    assert (duplicate.value.status, taken_extid.value.status) == (409, 409)
    with pytest.raises(ApiError) as gone:
        state.participation_by_external_id(f"p-{second}")
    assert gone.value.status == 404
    assert ids(state.list_projects(ORG))[-1] == new_project["id"]
    assert state.project_by_external_id("new")["id"] == new_project["id"]


def test_a_project_is_deleted_only_without_participants() -> None:
    state = seeded_state("demo")
    added = state.add_project(
        ORG, {"name": "Short", "designId": seed.ONBOARDING_DESIGN_ID, "externalId": "short"}
    )
    project = str(added["id"])
    location = state.add_participant(ORG, project, {"email": "a@acme.example"})

    with pytest.raises(ApiError) as refused:
        state.delete_project(ORG, project)
    state.delete_participant(ORG, project, location.rsplit("/", 1)[1])
    state.delete_project(ORG, project)

    assert refused.value.status == 406
    assert ids(state.list_projects(ORG)) == [seed.DEMO_PROJECT_ID]
    with pytest.raises(ApiError):
        state.project_by_external_id("short")


def test_user_updates_move_their_email_and_external_id() -> None:
    state = seeded_state("demo")
    old_email, old_extid = seed.DEMO_ADMIN_EMAIL, seed.DEMO_ADMIN_EXTERNAL_ID

    state.update_user(seed.DEMO_ADMIN_USER_ID, {"primaryEmail": "Boss@Acme.example", "externalId": "boss"})

    assert state.user_by_external_id("boss")["id"] == seed.DEMO_ADMIN_USER_ID
    with pytest.raises(ApiError):
        state.user_by_external_id(old_extid)
    # The old email and external id are free again; the new ones are taken, in any case.
    assert (
        state.add_user({"primaryEmail": old_email, "externalId": old_extid})["userId"]
        != seed.DEMO_ADMIN_USER_ID
    )
    with pytest.raises(ApiError) as taken:
        state.add_user({"primaryEmail": "boss@acme.EXAMPLE"})
    assert taken.value.details == {"userId": seed.DEMO_ADMIN_USER_ID}
    location = state.add_participant(ORG, str(seed.DEMO_PROJECT_ID), {"email": "BOSS@acme.example"})
    [participant] = state.list_participants(ORG, str(seed.DEMO_PROJECT_ID))
    assert participant["userId"] == seed.DEMO_ADMIN_USER_ID
    assert location.endswith(str(participant["id"]))


def test_seeding_a_record_again_replaces_it_in_the_indexes() -> None:
    state = seeded_state("demo")
    state.add_records(
        Participant(5, seed.DEMO_PROJECT_ID, seed.DEMO_ADMIN_USER_ID, 5, external_id="first"),
        Participant(6, seed.DEMO_PROJECT_ID, seed.DEMO_ADMIN_USER_ID, 5, external_id="second"),
    )
    other = state.add_project(ORG, {"name": "Other", "designId": seed.ONBOARDING_DESIGN_ID})

    state.add_records(Participant(5, seed.DEMO_PROJECT_ID, seed.DEMO_ADMIN_USER_ID, 5, external_id="renamed"))
    state.add_records(Participant(6, other["id"], seed.DEMO_ADMIN_USER_ID, 5, external_id="second"))

    assert ids(state.list_participants(ORG, str(seed.DEMO_PROJECT_ID)), "externalId") == ["renamed"]
    assert ids(state.list_participants(ORG, str(other["id"]))) == [6]
    assert state.participation_by_external_id("second")["projectId"] == other["id"]
    with pytest.raises(ApiError):
        state.participation_by_external_id("first")


def test_user_groups_are_listed_per_org_unit() -> None:
    state = seeded_state("demo")
    state.add_records(OrgUnit(OTHER_ORG, "Other"), UserGroup(4500, OTHER_ORG, "Elsewhere"))

    added = state.add_user_group(ORG, {"name": "Managers"})

    assert ids(state.list_user_groups(ORG), "groupId") == [seed.DEMO_USER_GROUP_ID, added[0]["groupId"]]
    assert ids(state.list_user_groups(str(OTHER_ORG)), "groupId") == [4500]
