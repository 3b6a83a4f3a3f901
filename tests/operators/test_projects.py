"""The project operators against the simulator: create (idempotent by external id), update, delete."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import (
    LearnifierInputError,
    LearnifierNotFoundError,
    LearnifierProjectNotEmptyError,
    LearnifierRefusedError,
    LearnifierUncertainWriteError,
)
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.projects import (
    LearnifierCreateProjectOperator,
    LearnifierDeleteProjectOperator,
    LearnifierUpdateProjectOperator,
    id_order,
)
from learnifier_simulator import FaultConfig, seed
from learnifier_simulator.messages import ApiResponse
from learnifier_simulator.variants import SpecVariants
from tests.openapi_contract import validate_all
from tests.operators.variants import rewrite_responses

ORG = seed.DEMO_ORG_UNIT_ID


def projects(sim: Any) -> list[dict[str, Any]]:
    return sim.state.snapshot()["projects"]


def xcom(dag_run: Any, task_id: str) -> Any:
    value = dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)
    assert json.loads(json.dumps(value)) == value
    return value


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def test_create_reuse_and_update_a_project_from_params_and_xcom(learnifier_conn, run_dag, openapi_spec):
    sim = learnifier_conn
    dag_run = run_dag("operators_projects")

    assert dag_run.state == "success"
    created, again, updated = (xcom(dag_run, task) for task in ("create", "create_again", "update"))
    (project,) = [p for p in projects(sim) if p.get("externalId") == "security-2026"]
    assert created == {
        "org_id": str(ORG),
        "project_id": str(project["id"]),
        "name": "Security Awareness 2026",
        "external_id": "security-2026",
        "design_id": str(seed.SECURITY_AWARENESS_DESIGN_ID),
        "status": "NEW",
        "admin_url": f"{sim.base_url}/admin/projects/{project['id']}",
        "reused": False,
        "duplicates_deleted": [],
        "duplicates_left": [],
    }
    assert again == {**created, "reused": True}
    assert updated["updated_fields"] == ["name", "status", "user_title"]
    assert (updated["name"], updated["status"]) == ("Security Awareness 2026 (running)", "ACTIVATED")
    assert (project["name"], project["status"], project["userTitle"]) == (
        "Security Awareness 2026 (running)",
        "ACTIVATED",
        "Stay safe",
    )
    assert (project["note"], project["timezone"]) == ("created by a test", "Europe/Stockholm")
    assert len(projects(sim)) == 2
    creates = [e for e in sim.exchanges if e.method == "POST" and e.path.endswith("/projects")]
    assert len(creates) == 1
    validate_all(openapi_spec, sim.exchanges)


def test_a_rerun_creates_no_second_project_and_sends_no_unchanged_update(learnifier_conn, run_dag):
    sim = learnifier_conn
    run_dag("operators_projects")
    sim.clear_exchanges()

    dag_run = run_dag("operators_projects")

    assert xcom(dag_run, "create")["reused"] is True
    # The name template appends "(running)" to the current name, so only the name changes.
    assert xcom(dag_run, "update")["updated_fields"] == ["name"]
    assert [e.method for e in sim.exchanges if e.method != "GET"] == ["PATCH"]
    assert len(projects(sim)) == 2


def test_a_lost_create_answer_finds_the_project_by_external_id(learnifier_conn):
    sim = learnifier_conn
    sim.inject(drop="after", method="POST", path=f"/orgunits/{ORG}/projects")
    operator = LearnifierCreateProjectOperator(
        task_id="create",
        name="Conduct",
        org_id=ORG,
        design_id=seed.CODE_OF_CONDUCT_DESIGN_ID,
        external_id="c-1",
    )
    result = operator.execute(_context())

    assert result["reused"] is False
    assert [p["id"] for p in projects(sim) if p.get("externalId") == "c-1"] == [int(result["project_id"])]


def _create(**arguments: Any) -> LearnifierCreateProjectOperator:
    return LearnifierCreateProjectOperator(
        task_id="create",
        **{"name": "Conduct", "org_id": ORG, "design_id": seed.CODE_OF_CONDUCT_DESIGN_ID, **arguments},
    )


def _creates(sim: Any) -> list[Any]:
    return [e for e in sim.exchanges if e.method == "POST" and e.path == f"/orgunits/{ORG}/projects"]


def test_three_runs_make_one_project_when_the_server_ignores_the_external_id(
    learnifier_conn, monkeypatch, caplog, capsys
):
    """The external id is the project's identity even when the server drops it: reruns find, not create."""
    sim = learnifier_conn
    sim.variants = SpecVariants(ignore_undeclared_fields=True)  # a server that ignores externalId

    results = [_create(external_id="security-2026").execute(_context()) for _ in range(3)]

    (project,) = [p for p in projects(sim) if p["name"] == "Conduct"]
    assert "externalId" not in project
    assert [r["reused"] for r in results] == [False, True, True]
    assert {r["project_id"] for r in results} == {str(project["id"])}
    assert results[0]["external_id"] is None  # the summary shows the project as Learnifier keeps it
    assert len(_creates(sim)) == 1
    logs = caplog.text + capsys.readouterr().out  # the task logger prints on Airflow 3
    assert "did not keep the external id 'security-2026'" in logs
    assert "is named 'Conduct' from the same course design in org unit 1001 without an external id" in logs


def _conduct_projects(count: int) -> list[str]:
    """Make ``count`` projects named "Conduct" without an external id, as runs before 0.x left them."""
    with LearnifierHook() as hook:
        return [
            str(hook.create_project(ORG, name="Conduct", design_id=seed.CODE_OF_CONDUCT_DESIGN_ID)["id"])
            for _ in range(count)
        ]


def _enroll_someone(project_id: str, email: str) -> None:
    with LearnifierHook() as hook:
        hook.add_participant(ORG, project_id, email=email)


def _conduct_ids(sim: Any) -> list[str]:
    return [str(p["id"]) for p in projects(sim) if p["name"] == "Conduct"]


def test_duplicates_left_from_before_converge_on_the_lowest_id_and_the_empty_ones_go(learnifier_conn):
    """Before, every run failed ("2 projects named 'Conduct' ... does not guess") until one was deleted."""
    sim = learnifier_conn
    ids = _conduct_projects(3)
    sim.variants = SpecVariants(ignore_undeclared_fields=True)  # a server that ignores externalId
    sim.clear_exchanges()

    first = _create(external_id="c-1").execute(_context())
    again = _create(external_id="c-1").execute(_context())

    assert (first["project_id"], first["reused"]) == (ids[0], True)
    assert first["duplicates_deleted"] == ids[1:] and first["duplicates_left"] == []
    assert _conduct_ids(sim) == [ids[0]]
    assert again == {**first, "duplicates_deleted": []}
    assert _creates(sim) == []


def test_a_duplicate_with_participants_is_never_deleted_and_is_preferred(learnifier_conn, caplog, capsys):
    """People enrolled into a duplicate stay; the runs settle on the lowest id that has participants."""
    sim = learnifier_conn
    ids = _conduct_projects(4)
    _enroll_someone(ids[1], "kept@example.com")
    _enroll_someone(ids[3], "also-kept@example.com")
    sim.variants = SpecVariants(ignore_undeclared_fields=True)

    results = [_create(external_id="c-1").execute(_context()) for _ in range(2)]

    assert [r["project_id"] for r in results] == [ids[1], ids[1]]
    assert results[0]["duplicates_deleted"] == [ids[0], ids[2]]
    assert [r["duplicates_left"] for r in results] == [[ids[3]], [ids[3]]]
    assert _conduct_ids(sim) == [ids[1], ids[3]]
    logs = caplog.text + capsys.readouterr().out
    assert f"Project {ids[3]} duplicates project {ids[1]} but has 1 participant(s): not deleting it" in logs


def test_a_delete_learnifier_refuses_leaves_the_duplicate_and_says_so(learnifier_conn, caplog, capsys):
    sim = learnifier_conn
    ids = _conduct_projects(2)
    sim.variants = SpecVariants(ignore_undeclared_fields=True)
    # Somebody is enrolled between the check and the delete: Learnifier refuses with 406.
    sim.inject(status=406, method="DELETE", path=f"/orgunits/{ORG}/projects/{ids[1]}")

    result = _create(external_id="c-1").execute(_context())

    assert (result["project_id"], result["duplicates_deleted"], result["duplicates_left"]) == (
        ids[0],
        [],
        [ids[1]],
    )
    assert _conduct_ids(sim) == ids
    logs = caplog.text + capsys.readouterr().out
    assert f"Learnifier refused to delete project {ids[1]}, a duplicate of project {ids[0]}" in logs


def test_delete_duplicates_off_only_names_them(learnifier_conn):
    sim = learnifier_conn
    ids = _conduct_projects(3)
    sim.variants = SpecVariants(ignore_undeclared_fields=True)

    result = _create(external_id="c-1", delete_duplicates=False).execute(_context())

    assert (result["project_id"], result["duplicates_deleted"], result["duplicates_left"]) == (
        ids[0],
        [],
        ids[1:],
    )
    assert _conduct_ids(sim) == ids
    assert not [e for e in sim.exchanges if e.method == "DELETE"]


def test_a_project_with_the_external_id_wins_over_ones_the_name_rule_matches(learnifier_conn):
    """A hand-made project of the same name (lower id) is not this task's once one has the external id."""
    sim = learnifier_conn
    (hand_made,) = _conduct_projects(1)
    with LearnifierHook() as hook:
        ours = str(
            hook.create_project(
                ORG, name="Conduct", design_id=seed.CODE_OF_CONDUCT_DESIGN_ID, external_id="c-1"
            )["id"]
        )
    sim.clear_exchanges()

    result = _create(external_id="c-1").execute(_context())

    assert (result["project_id"], result["reused"], result["duplicates_deleted"]) == (ours, True, [])
    assert sorted(_conduct_ids(sim)) == sorted([hand_made, ours])
    assert not [e for e in sim.exchanges if e.method != "GET"]


def test_the_name_rule_ignores_other_designs_and_projects_with_another_external_id(learnifier_conn):
    sim = learnifier_conn
    with LearnifierHook() as hook:
        hook.create_project(ORG, name="Conduct", design_id=seed.ONBOARDING_DESIGN_ID)
        hook.create_project(
            ORG, name="Conduct", design_id=seed.CODE_OF_CONDUCT_DESIGN_ID, external_id="other"
        )
    sim.clear_exchanges()

    result = _create(external_id="c-1").execute(_context())

    assert result["reused"] is False and result["external_id"] == "c-1"
    assert len(_creates(sim)) == 1


def test_a_lost_create_answer_is_settled_by_the_name_rule_when_the_external_id_did_not_take(
    learnifier_conn, monkeypatch
):
    """Before, the external id lookup found nothing and the task failed though the project was made."""
    sim = learnifier_conn
    sim.variants = SpecVariants(ignore_undeclared_fields=True)  # a server that ignores externalId
    sim.inject(drop="after", method="POST", path=f"/orgunits/{ORG}/projects")

    result = _create(external_id="c-1").execute(_context())

    (project,) = [p for p in projects(sim) if p["name"] == "Conduct"]
    assert (result["project_id"], result["reused"]) == (str(project["id"]), False)
    assert len(_creates(sim)) == 1


def test_a_lost_create_answer_without_external_id_is_settled_by_the_new_projects(learnifier_conn):
    """Before, the task failed although the project was made, and a retry made a second one."""
    sim = learnifier_conn
    sim.inject(drop="after", method="POST", path=f"/orgunits/{ORG}/projects")

    result = _create().execute(_context())

    (project,) = [p for p in projects(sim) if p["name"] == "Conduct"]
    assert (result["project_id"], result["reused"]) == (str(project["id"]), False)
    assert len(_creates(sim)) == 1


def test_a_500_on_create_is_checked_then_sent_once_more(learnifier_conn):
    """A 5xx may have been applied: read, then send again. Before, a 500 failed the task."""
    sim = learnifier_conn
    sim.inject(status=500, method="POST", path=f"/orgunits/{ORG}/projects")

    result = _create(external_id="c-1").execute(_context())

    assert [p["id"] for p in projects(sim) if p.get("externalId") == "c-1"] == [int(result["project_id"])]
    assert [e.status for e in _creates(sim)] == [500, 201]


def test_a_502_on_create_is_not_sent_again_and_the_next_run_creates_it(learnifier_conn):
    """A gateway timeout: Learnifier may still be creating it, and a project is not deduplicated."""
    sim = learnifier_conn
    sim.inject(status=502, method="POST", path=f"/orgunits/{ORG}/projects")

    with pytest.raises(LearnifierUncertainWriteError, match="was not sent again"):
        _create(external_id="c-1").execute(_context())
    assert len(_creates(sim)) == 1
    assert _create(external_id="c-1").execute(_context())["reused"] is False
    assert len([p for p in projects(sim) if p.get("externalId") == "c-1"]) == 1


def test_an_external_id_of_another_org_unit_is_refused(learnifier_conn):
    with LearnifierHook() as hook:
        other = hook.create_org_unit(display_name="Other")["ouId"]
    operator = LearnifierCreateProjectOperator(
        task_id="create",
        name="x",
        org_id=other,
        design_id=seed.ONBOARDING_DESIGN_ID,
        external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
    )
    with pytest.raises(LearnifierInputError, match="belongs to project 2001 of org unit 1001"):
        operator.execute(_context())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"design_name": "Juggling"}, "no enabled course design named 'Juggling'; the enabled designs are: "),
        ({}, "give design_id or design_name"),
        ({"design_id": 101, "design_name": "Onboarding"}, "give design_id or design_name"),
        ({"design_id": 101, "org_id": None}, "by org_id or by org_external_id"),
        ({"design_id": 101, "name": " "}, "needs a name"),
    ],
)
def test_bad_create_arguments_are_named(learnifier_conn, arguments, message):
    operator = LearnifierCreateProjectOperator(task_id="create", **{"name": "x", "org_id": ORG, **arguments})
    with pytest.raises(LearnifierInputError, match=message):
        operator.execute(_context())
    assert len(projects(learnifier_conn)) == 1


def test_design_names_match_case_insensitively(learnifier_conn):
    operator = LearnifierCreateProjectOperator(
        task_id="create", name="x", org_external_id="acme", design_name="code of conduct"
    )
    assert operator.execute(_context())["design_id"] == str(seed.CODE_OF_CONDUCT_DESIGN_ID)


def test_update_validates_its_input(learnifier_conn):
    with pytest.raises(LearnifierInputError, match="status must be one of NEW, ACTIVATED, DISABLED"):
        LearnifierUpdateProjectOperator(task_id="u", project_external_id="x", status="paused").execute(
            _context()
        )
    with pytest.raises(LearnifierInputError, match="no field to update"):
        LearnifierUpdateProjectOperator(task_id="u", project_external_id="x").execute(_context())
    with pytest.raises(LearnifierNotFoundError):
        LearnifierUpdateProjectOperator(task_id="u", project_external_id="nope", note="n").execute(_context())


def test_an_update_answered_204_without_a_body_succeeds_and_shows_the_new_values(
    learnifier_conn, monkeypatch
):
    """The spec permits any 2xx: a 204 without a body is a success, and the values shown are read back."""
    sim = learnifier_conn
    path = f"/orgunits/{ORG}/projects/{seed.DEMO_PROJECT_ID}"
    rewrite_responses(
        sim,
        monkeypatch,
        lambda request, answer: (
            ApiResponse.empty(204)
            if (request.method, request.path, answer.status) == ("PATCH", path, 200)
            else answer
        ),
    )
    result = LearnifierUpdateProjectOperator(
        task_id="u", org_id=ORG, project_id=seed.DEMO_PROJECT_ID, name="Renamed", status="DISABLED"
    ).execute(_context())

    assert (result["name"], result["status"], result["updated_fields"]) == (
        "Renamed",
        "DISABLED",
        ["name", "status"],
    )
    assert [e.status for e in sim.exchanges if e.method == "PATCH"] == [204]


# ---------------------------------------------------------------------- delete


def test_delete_an_empty_project(learnifier_conn, run_dag):
    sim = learnifier_conn
    dag_run = run_dag("operators_delete_project")

    assert dag_run.state == "success"
    assert xcom(dag_run, "delete") == {
        "org_id": str(ORG),
        "project_id": str(seed.DEMO_PROJECT_ID),
        "name": seed.DEMO_PROJECT_NAME,
        "deleted": True,
    }
    assert projects(sim) == []


def test_delete_fails_while_participants_remain(learnifier_conn, run_dag):
    sim = learnifier_conn
    with LearnifierHook() as hook:
        hook.add_participant(ORG, seed.DEMO_PROJECT_ID, user_id=seed.DEMO_ADMIN_USER_ID)

    dag_run = run_dag("operators_delete_project")

    assert dag_run.get_task_instance("delete").state == "failed"
    assert len(projects(sim)) == 1


def test_the_not_empty_error_says_how_many_participants_remain(learnifier_conn):
    with LearnifierHook() as hook:
        hook.add_participant(ORG, seed.DEMO_PROJECT_ID, user_id=seed.DEMO_ADMIN_USER_ID)
        hook.add_participant(ORG, seed.DEMO_PROJECT_ID, email="second@example.com")
    operator = LearnifierDeleteProjectOperator(
        task_id="delete", project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID
    )

    with pytest.raises(LearnifierProjectNotEmptyError) as refused:
        operator.execute(_context())

    assert isinstance(refused.value, LearnifierRefusedError)
    assert refused.value.participants == 2
    assert refused.value.status == 406
    assert "it still has 2 participant(s)" in str(refused.value)
    assert "remove_missing=True" in str(refused.value)


def test_a_406_on_an_empty_project_gives_learnifiers_reason_not_participants(learnifier_conn):
    """A 406 has more causes than participants: the error must give Learnifier's own reason."""
    sim = learnifier_conn
    body = {"code": 406, "message": "The project is locked by a running export"}
    sim.inject(
        status=406,
        method="DELETE",
        path=f"/orgunits/{ORG}/projects/{seed.DEMO_PROJECT_ID}",
        body=json.dumps(body).encode(),
    )
    operator = LearnifierDeleteProjectOperator(
        task_id="delete", project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID
    )

    with pytest.raises(LearnifierRefusedError) as refused:
        operator.execute(_context())

    assert not isinstance(refused.value, LearnifierProjectNotEmptyError)
    assert "locked by a running export" in str(refused.value)
    assert "participant" not in str(refused.value)
    assert refused.value.status == 406
    assert len(projects(sim)) == 1


def test_an_org_id_rendered_none_is_not_given(learnifier_conn, run_dag):
    """A template that renders ``None`` gives no org id: the delete must not pass as "already gone"."""
    operator = LearnifierDeleteProjectOperator(
        task_id="delete", org_id="None", project_id=2001, missing_ok=True
    )
    with pytest.raises(LearnifierInputError, match="project_id '2001' needs its org_id"):
        operator.execute(_context())

    dag_run = run_dag("operators_delete_project", {"org_id": None, "project_id": seed.DEMO_PROJECT_ID})

    assert dag_run.get_task_instance("delete").state == "failed"
    assert len(projects(learnifier_conn)) == 1


def test_delete_of_a_missing_project(learnifier_conn):
    missing = LearnifierDeleteProjectOperator(task_id="delete", org_id=ORG, project_id=9999)
    with pytest.raises(LearnifierNotFoundError):
        missing.execute(_context())
    tolerated = LearnifierDeleteProjectOperator(
        task_id="delete", org_id=ORG, project_id=9999, missing_ok=True
    )
    assert tolerated.execute(_context()) == {
        "org_id": str(ORG),
        "project_id": "9999",
        "name": None,
        "deleted": False,
    }


# ---------------------------------------------------------------------- overlapping runs

#: Servers that the spec permits: one that ignores the undeclared ``externalId`` (and writes ids
#: as numbers or strings), one that keeps it and refuses a second (409, as the simulator does),
#: and one that keeps it without refusing a second (the spec declares no 409 for projects).
OVERLAP_SERVERS = {
    "ignores-external-id": SpecVariants(ignore_undeclared_fields=True, id_types=True),
    "keeps-external-id-409": None,
    "keeps-external-id-no-409": SpecVariants(duplicate_external_ids=True, id_types=True),
}


def _overlapping_runs(runs: int, external_id: str) -> list[dict[str, Any] | BaseException]:
    """Run ``runs`` create operators with the same arguments at once, each in its own thread."""
    start = threading.Barrier(runs)

    def run(_: int) -> dict[str, Any] | BaseException:
        operator = _create(name=f"Course {external_id}", external_id=external_id)
        start.wait()
        try:
            return operator.execute(_context())
        except BaseException as error:  # reported by the test, with the trial
            return error

    with ThreadPoolExecutor(max_workers=runs) as pool:
        return list(pool.map(run, range(runs)))


@pytest.mark.parametrize(("runs", "trials"), [(2, 24), (5, 10)], ids=["2-runs", "5-runs"])
@pytest.mark.parametrize("server", list(OVERLAP_SERVERS))
def test_overlapping_runs_end_with_one_project_that_every_run_reports(learnifier_conn, server, runs, trials):
    """Before, two runs started together made two projects, and every later run failed."""
    sim = learnifier_conn
    sim.variants = OVERLAP_SERVERS[server]
    overlapped = 0
    for trial in range(trials):
        # Some answers come a few milliseconds late, differently in each trial: the runs interleave
        # differently each time.
        sim.faults = FaultConfig(slow_rate=0.3, slow_seconds=0.004, seed=trial)
        external_id = f"{server}-{runs}-{trial}"
        sim.clear_exchanges()

        results = _overlapping_runs(runs, external_id)

        failures = [result for result in results if isinstance(result, BaseException)]
        assert not failures, f"trial {trial}: {failures!r}"
        made = [p for p in projects(sim) if p["name"] == f"Course {external_id}"]
        assert len(made) == 1, f"trial {trial}: {len(made)} projects"
        assert {r["project_id"] for r in results} == {str(made[0]["id"])}, f"trial {trial}"
        assert sorted(r["reused"] for r in results) == [False] + [True] * (runs - 1), f"trial {trial}"
        # Every project a run made and did not use was deleted (by one run or another).
        creates = [e for e in _creates(sim) if e.status is not None and 200 <= e.status < 300]
        deleted = {project_id for r in results for project_id in r["duplicates_deleted"]}
        assert len(deleted) == len(creates) - 1, f"trial {trial}"
        assert all(r["duplicates_left"] == [] for r in results)
        overlapped += len(_creates(sim)) > 1

        sim.faults = FaultConfig()
        later = _create(name=f"Course {external_id}", external_id=external_id).execute(_context())
        assert (later["project_id"], later["reused"]) == (str(made[0]["id"]), True)
    print(f"{server}, {runs} runs: {overlapped} of {trials} trials sent more than one create")
    assert overlapped, "no trial had runs that overlapped: the test proved nothing"


@given(
    numbers=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=8),
    others=st.lists(
        st.text(min_size=1, max_size=6).filter(lambda text: not text.strip().isdigit()), max_size=3
    ),
    as_text=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_the_lowest_id_is_the_same_whether_learnifier_writes_ids_as_numbers_or_strings(
    numbers, others, as_text
):
    """All runs must agree on one project though each may read its id as ``9`` or ``"9"``."""
    rendered = [str(n) if text else n for n, text in zip(numbers, as_text, strict=False)]
    ids = rendered + others

    assert str(min(ids, key=id_order)) == str(min(numbers))
    ordered = sorted(ids, key=id_order)
    assert [int(i) for i in ordered[: len(rendered)]] == sorted(numbers[: len(rendered)])
    assert sorted(ordered[len(rendered) :]) == sorted(others)  # other ids come after the numbers
    assert [id_order(n) for n in numbers] == [id_order(str(n)) for n in numbers]
