"""Spec variants: each freedom of the spec taken observably, over sockets, reproducibly; off by default."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from learnifier_simulator import LearnifierSimulator, SpecVariants, seed
from learnifier_simulator.models import User
from learnifier_simulator.routes import ROUTES
from learnifier_simulator.variants import (
    EXTRA_MEMBERS,
    PAGING_HEADERS,
    REQUIRED_MEMBERS,
    is_id_member,
)
from tests.openapi_contract import spec_operations, validate_all
from tests.simulator.client import ApiClient

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import requests

    StartSimulator = Callable[[SpecVariants | None], tuple[LearnifierSimulator, ApiClient]]

ORG = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}"
PROJECT = f"{ORG}/projects/{seed.DEMO_PROJECT_ID}"
#: Users added to the demo account's one, for paging.
EXTRA_USERS = 249


@pytest.fixture
def start(openapi_spec: dict[str, Any]) -> Iterator[StartSimulator]:
    """Start demo simulators with some variants, each with a contract-checking client; all stopped after."""
    with contextlib.ExitStack() as stack:

        def start_one(variants: SpecVariants | None) -> tuple[LearnifierSimulator, ApiClient]:
            simulator = stack.enter_context(LearnifierSimulator(variants=variants))
            lenient = variants is not None and variants.varies_answers
            client = ApiClient(simulator, openapi_spec, spec_variants=lenient)
            stack.callback(client.session.close)
            return simulator, client

        yield start_one


def add_users(simulator: LearnifierSimulator) -> list[str]:
    """Add :data:`EXTRA_USERS` users; return every user id in the account's order."""
    simulator.state.add_records(
        *(
            User(str(uuid.UUID(int=n)), seed.SEED_TIME, primary_email=f"user{n}@example.com")
            for n in range(1, EXTRA_USERS + 1)
        )
    )
    users, _ = simulator.state.list_users(EXTRA_USERS + 10, 0)
    return [user["id"] for user in users]


def read_users(api: ApiClient, limit: int, *, trust_headers: bool = True) -> list[requests.Response]:
    """Read every page of ``GET /users``, moving on by the rows received.

    :param trust_headers: stop at ``X-More: false``; else at the first empty page.
    """
    offset, pages = 0, []
    while True:
        page = api.get("/users", params={"limit": limit, "offset": offset})
        pages.append(page)
        offset += len(page.json())
        if (page.headers["X-More"] == "false") if trust_headers else not page.json():
            return pages


def user_ids(pages: list[requests.Response]) -> list[str]:
    return [user["id"] for page in pages for user in page.json()]


def paging(page: requests.Response) -> dict[str, str]:
    return {name: page.headers[name] for name in PAGING_HEADERS if name in page.headers}


def fingerprint(simulator: LearnifierSimulator, api: ApiClient) -> list[tuple[int, dict[str, str], Any]]:
    """Make a fixed sequence of requests; return each answer's status, paging headers and body.

    The bodies are read with the simulator's base URL (its port differs from run to run) left out.
    """
    answers = [
        api.get("/coursedesigns"),
        api.get("/orgunits"),
        api.get(f"{ORG}/projects"),
        api.get(PROJECT),
        api.get("/users", params={"limit": 2}),
        api.get(f"/users/{seed.DEMO_ADMIN_USER_ID}"),
        api.patch(ORG, json={"displayName": seed.DEMO_ORG_UNIT_NAME}, expect=201),
        api.get(f"{ORG}/usergroups"),
        api.get("/globalusergroups"),
    ]
    return [
        (answer.status_code, paging(answer), answer.text.replace(simulator.base_url, "BASE") or None)
        for answer in answers
    ]


# ---------------------------------------------------------------------- off by default


def test_variants_are_off_by_default(sim: LearnifierSimulator, api: ApiClient, start: StartSimulator) -> None:
    assert sim.variants is None
    project = api.post(
        f"{ORG}/projects",
        json={"name": "N", "designId": seed.ONBOARDING_DESIGN_ID, "externalId": "n-1"},
        expect=201,
    ).json()
    assert project["externalId"] == "n-1"
    assert type(project["id"]) is int
    assert list(project) == list(sim.state.get_project(str(seed.DEMO_ORG_UNIT_ID), str(project["id"])))

    # Variants that are all off answer exactly as no variants.
    assert fingerprint(*start(SpecVariants())) == fingerprint(*start(None))


# ---------------------------------------------------------------------- 1. short pages of users


def test_a_users_page_cap_alone_answers_short_pages_with_truthful_headers(
    start: StartSimulator,
) -> None:
    simulator, api = start(SpecVariants(users_page_cap=100))
    everyone = add_users(simulator)

    pages = read_users(api, 500)

    assert [paging(page) for page in pages] == [
        {"X-Limit": "100", "X-Offset": "0", "X-Size": "100", "X-More": "true"},
        {"X-Limit": "100", "X-Offset": "100", "X-Size": "100", "X-More": "true"},
        {"X-Limit": "100", "X-Offset": "200", "X-Size": "50", "X-More": "false"},
    ]
    assert user_ids(pages) == everyone
    # A limit under the cap is used as asked; nothing else varies (the client checks strictly).
    assert paging(api.get("/users", params={"limit": 3, "offset": 1})) == {
        "X-Limit": "3",
        "X-Offset": "1",
        "X-Size": "3",
        "X-More": "true",
    }


def test_without_paging_headers_an_empty_page_is_the_end(
    start: StartSimulator,
) -> None:
    simulator, api = start(SpecVariants(users_page_cap=100, paging_headers=False))
    everyone = add_users(simulator)

    pages = read_users(api, 500, trust_headers=False)

    assert [len(page.json()) for page in pages] == [100, 100, 50, 0]
    assert all(paging(page) == {} for page in pages)
    assert user_ids(pages) == everyone


def test_random_page_sizes_stay_consistent(
    start: StartSimulator,
) -> None:
    simulator, api = start(SpecVariants(seed=3, users_page_cap=60, random_page_sizes=True))
    everyone = add_users(simulator)

    pages = read_users(api, 500)

    sizes = [len(page.json()) for page in pages]
    assert len(set(sizes)) > 1
    assert all(1 <= size <= 60 for size in sizes)
    assert all(paging(page)["X-Limit"] == paging(page)["X-Size"] for page in pages[:-1])
    assert user_ids(pages) == everyone


@pytest.mark.parametrize(
    ("cap", "random_sizes", "message"),
    [(0, False, "at least 1"), (None, True, "needs users_page_cap")],
)
def test_paging_variants_are_checked(cap: int | None, random_sizes: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpecVariants(users_page_cap=cap, random_page_sizes=random_sizes)


# ---------------------------------------------------------------------- 2. undeclared fields ignored


def test_ignore_undeclared_fields_alone_drops_a_projects_external_id(
    start: StartSimulator,
) -> None:
    simulator, api = start(SpecVariants(ignore_undeclared_fields=True))
    body = {"name": "Safety", "designId": seed.ONBOARDING_DESIGN_ID, "externalId": "safety-1"}

    project = api.post(f"{ORG}/projects", json=body, expect=201).json()
    api.patch(f"{ORG}/projects/{project['id']}", json={"note": "n", "externalId": "safety-2"}, expect=200)

    assert "externalId" not in simulator.state.get_project(str(seed.DEMO_ORG_UNIT_ID), str(project["id"]))
    assert "externalId" not in project
    api.get("/extproject", params={"extid": "safety-1"}, expect=404)
    # Declared fields still count.
    assert api.get(f"{ORG}/projects/{project['id']}").json()["note"] == "n"


def test_duplicate_external_ids_are_created_not_refused(start: StartSimulator) -> None:
    """The spec declares no 409 for projects, and for users only a taken primary email."""
    simulator, api = start(SpecVariants(duplicate_external_ids=True))
    body = {"name": "Safety", "designId": seed.ONBOARDING_DESIGN_ID, "externalId": "safety-1"}

    first, second = (api.post(f"{ORG}/projects", json=body, expect=201).json() for _ in range(2))
    users = [api.post("/users", json={"externalId": "E-1"}, expect=200).json()["userId"] for _ in range(2)]
    api.post("/users", json={"externalId": "E-2", "primaryEmail": "a@example.com"}, expect=200)
    taken = api.post("/users", json={"externalId": "E-3", "primaryEmail": "A@example.com"}, expect=409)

    assert first["id"] != second["id"] and users[0] != users[1]
    assert api.get("/extproject", params={"extid": "safety-1"}).json()["id"] == first["id"]
    assert api.get("/extuser", params={"extid": "E-1"}).json()["id"] == users[0]
    assert taken.json()["userId"] == simulator.state.user_by_external_id("E-2")["id"]
    simulator.variants = None  # uniqueness is back for new records
    api.post(f"{ORG}/projects", json=body, expect=409)


def test_the_declared_request_fields_are_those_of_the_spec(openapi_spec: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.is_control or route.body is None:
            continue
        request_body = openapi_spec["paths"][route.template][route.method.lower()]["requestBody"]
        schema = request_body["content"]["application/json"]["schema"]
        assert route.body.declared_fields == set(schema["properties"]), route.operation


# ---------------------------------------------------------------------- 3 to 7: how answers are written


def test_unknown_members_are_added_to_answer_objects(
    start: StartSimulator,
) -> None:
    _, api = start(SpecVariants(seed=4, extra_fields=True))
    designs = [design for _ in range(5) for design in api.get("/coursedesigns").json()]

    extra_names = {name for name, _ in EXTRA_MEMBERS}
    with_extras = [design for design in designs if extra_names & set(design)]
    assert with_extras
    assert len(with_extras) < len(designs)
    assert {design["id"] for design in designs} == {
        seed.ONBOARDING_DESIGN_ID,
        seed.SECURITY_AWARENESS_DESIGN_ID,
        seed.CODE_OF_CONDUCT_DESIGN_ID,
    }


def test_numeric_ids_come_as_numbers_and_as_strings(
    start: StartSimulator,
) -> None:
    _, api = start(SpecVariants(seed=5, id_types=True))
    projects = [api.get(PROJECT).json() for _ in range(10)]
    users = [api.get(f"/users/{seed.DEMO_ADMIN_USER_ID}").json() for _ in range(5)]

    assert {type(project["id"]) for project in projects} == {int, str}
    assert {type(project["orgId"]) for project in projects} == {int, str}
    assert {str(project["id"]) for project in projects} == {str(seed.DEMO_PROJECT_ID)}
    assert {type(user["homeOrg"]) for user in users} == {int, str}
    # UUIDs stay strings, as they are.
    assert {user["id"] for user in users} == {seed.DEMO_ADMIN_USER_ID}
    assert {project["createdBy"] for project in projects} == {seed.DEMO_ADMIN_USER_ID}


def test_any_2xx_answers_success_keeping_the_bodies_the_spec_declares(
    start: StartSimulator,
) -> None:
    _, api = start(SpecVariants(seed=6, any_2xx=True))
    listed = [api.get("/orgunits") for _ in range(12)]
    patched = [api.patch(ORG, json={"country": "SE"}, expect=201) for _ in range(12)]
    added = api.post(f"{PROJECT}/participants", json={"email": "new@example.com"}, expect=201)

    assert {answer.status_code for answer in listed} == {200, 201, 202}
    assert all(answer.json()["orgUnits"] for answer in listed)
    assert {answer.status_code for answer in patched} == {200, 201, 202, 204}
    assert all(answer.content == b"" for answer in patched)
    assert added.headers["Location"].startswith(f"{api.simulator.base_url}{PROJECT}/participants/")


def test_optional_members_come_null_or_absent_but_ids_stay(
    sim: LearnifierSimulator, start: StartSimulator
) -> None:
    _, api = start(SpecVariants(seed=7, drop_optional=True))
    usual = sim.state.get_project(str(seed.DEMO_ORG_UNIT_ID), str(seed.DEMO_PROJECT_ID))
    projects = [api.get(PROJECT).json() for _ in range(10)]

    assert any(None in project.values() for project in projects)
    assert any(set(usual) - set(project) for project in projects)
    for project in projects:
        assert set(project) <= set(usual)
        assert {name: project[name] for name in usual if is_id_member(name) or name == "name"} == {
            name: value for name, value in usual.items() if is_id_member(name) or name == "name"
        }


def test_response_members_the_spec_requires_are_never_dropped(openapi_spec: dict[str, Any]) -> None:
    required: set[str] = set()

    def collect(schema: Any) -> None:
        if isinstance(schema, dict):
            required.update(schema.get("required", ()) if "properties" in schema else ())
            for member in schema.values():
                collect(member)
        elif isinstance(schema, list):
            for member in schema:
                collect(member)

    for operation in spec_operations(openapi_spec):
        for status, response in operation.definition["responses"].items():
            if status.startswith("2"):
                collect(response.get("content", {}))
    assert {name for name in required if not is_id_member(name)} == REQUIRED_MEMBERS


def test_lists_are_shuffled_and_users_only_within_their_page(
    start: StartSimulator,
) -> None:
    simulator, api = start(SpecVariants(seed=8, shuffle=True, users_page_cap=100))
    everyone = add_users(simulator)
    orders = {tuple(design["id"] for design in api.get("/coursedesigns").json()) for _ in range(10)}

    pages = read_users(api, 500)

    assert len(orders) > 1
    assert {frozenset(order) for order in orders} == {
        frozenset(
            {seed.ONBOARDING_DESIGN_ID, seed.SECURITY_AWARENESS_DESIGN_ID, seed.CODE_OF_CONDUCT_DESIGN_ID}
        )
    }
    assert user_ids(pages) != everyone
    assert [set(user_ids([page])) for page in pages] == [
        set(everyone[:100]),
        set(everyone[100:200]),
        set(everyone[200:]),
    ]


# ---------------------------------------------------------------------- everything, reproducibly


def test_the_same_seed_gives_the_same_answers(
    start: StartSimulator,
) -> None:
    first = start(SpecVariants.all(seed=9))
    again = fingerprint(*first)

    assert fingerprint(*start(SpecVariants.all(seed=9))) == again
    assert fingerprint(*start(SpecVariants.all(seed=10))) != again
    # Setting the variants again restarts their draws.
    first[0].variants = SpecVariants.all(seed=9)
    assert fingerprint(*first) == again


def test_every_operation_keeps_the_contract_with_every_variant(
    start: StartSimulator, openapi_spec: dict[str, Any]
) -> None:
    simulator, api = start(SpecVariants.all(seed=12))
    assert simulator.variants == SpecVariants.all(seed=12)
    admin = seed.DEMO_ADMIN_USER_ID

    api.get("/coursedesigns")
    api.get("/extorgunit", params={"extid": seed.DEMO_ORG_UNIT_EXTERNAL_ID})
    api.get("/extproject", params={"extid": seed.DEMO_PROJECT_EXTERNAL_ID})
    api.get("/extuser", params={"extid": seed.DEMO_ADMIN_EXTERNAL_ID})
    api.get("/globalusergroups")
    api.get(f"/globalusergroups/{seed.DEMO_GLOBAL_USER_GROUP_ID}/members")
    api.get("/orgunits")
    org = api.post("/orgunits", json={"displayName": "Globex"}, expect=200).json()["ouId"]
    api.get(f"/orgunits/{org}")
    api.patch(f"/orgunits/{org}", json={"country": "NO"}, expect=201)
    api.get(f"{ORG}/projects")
    body = {"name": "Tour", "designId": seed.ONBOARDING_DESIGN_ID, "externalId": "tour"}
    project = f"{ORG}/projects/{api.post(f'{ORG}/projects', json=body, expect=201).json()['id']}"
    api.get(project)
    api.patch(project, json={"note": "n"}, expect=200)
    location = api.post(f"{project}/participants", json={"email": "p@example.com", "extid": "p"}, expect=201)
    participant = f"{project}/participants/{location.headers['Location'].rsplit('/', 1)[1]}"
    api.get(f"{project}/participants")
    api.get("/extparticipation", params={"extid": "p"})
    api.post(f"{participant}/activate", expect=201)
    api.post(f"{participant}/loginlink", expect=200)
    api.get(f"{project}/teammembers")
    api.get(f"{ORG}/usergroups")
    group_id = api.post(f"{ORG}/usergroups", json={"name": "G"}, expect=200).json()[0]["groupId"]
    group = f"{ORG}/usergroups/{group_id}"
    api.get(group)
    api.post(f"{group}/members", json={"uuid": admin}, expect=200)
    api.get(f"{group}/members")
    api.delete(f"{group}/members/{admin}", expect=200)
    api.get("/users", params={"limit": 500})
    user = api.post("/users", json={"primaryEmail": "u@example.com"}, expect=200).json()["userId"]
    api.get(f"/users/{user}")
    api.patch(f"/users/{user}", json={"firstName": "U"}, expect=201)
    api.get(f"/users/{user}/pic", params={"key": simulator.key})
    api.get(f"/users/{admin}/projectParticipations")
    api.delete(participant, expect=204)
    api.delete(project, expect=204)

    exchanges = simulator.exchanges
    assert {exchange.operation for exchange in exchanges} == {op.key for op in spec_operations(openapi_spec)}
    validate_all(openapi_spec, exchanges, spec_variants=True)
    # The undeclared externalId was ignored; every answer was a success.
    assert all(200 <= (exchange.status or 0) < 300 for exchange in exchanges)
    assert [p.get("externalId") for p in simulator.state.snapshot()["projects"]] == [
        seed.DEMO_PROJECT_EXTERNAL_ID
    ]
