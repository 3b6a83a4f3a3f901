"""LearnifierPolicyPlanOperator and LearnifierPolicyApplyOperator against the simulator.

Plans read and only read; an apply does what its plan said, through the enrollment engine, and a
second apply changes nothing; guards and plan ids refuse before any change; a policy with a typo
fails before any request. The mapped DAG of ``tests/dags/operators_policy.py`` applies one course
per task.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import LearnifierInputError, LearnifierMassRemovalError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators._policy import PlanChangedError
from airflow_provider_learnifier.operators.policy import (
    POLICY_SUMMARY_XCOM_KEY,
    LearnifierPolicyApplyOperator,
    LearnifierPolicyPlanOperator,
)
from airflow_provider_learnifier.policy import PolicyError
from learnifier_simulator import seed
from tests.openapi_contract import validate_all

WRITES = ("POST", "PATCH", "PUT", "DELETE")
REFERENCE = "2026-06-01"
COURSES = ("security", "sales-onboarding", "leaders")

ROSTER = [
    {"Email": "ada@acme.example", "Employee ID": "E1", "Department": "Sales", "Country": "SE",
     "Role": "Account Manager", "Hire Date": "2026-05-01"},
    {"Email": "bo@acme.example", "Employee ID": "E2", "Department": "Presales", "Country": "US",
     "Role": "Engineer", "Hire Date": "2026-04-20"},
    {"Email": "cy@acme.example", "Employee ID": "E3", "Department": "Sales", "Country": "US",
     "Role": "Team Lead", "Hire Date": "2019-02-01"},
    {"Email": "di@acme.example", "Employee ID": "E4", "Department": "Finance", "Country": "SE",
     "Role": "Analyst", "Hire Date": "2022-09-15"},
]  # fmt: skip

POLICY: dict[str, Any] = {
    "version": 1,
    "courses": [
        {"project_external_id": "security", "who": "all", "remove": True},
        {
            "project_external_id": "sales-onboarding",
            "who": {"department": ["Sales", "Presales"], "hire_date": {"after": "-90d"}},
        },
        {
            "project_external_id": "leaders",
            "who": {"role": {"matches": "(?i)manager|lead"}, "not": {"country": "US"}},
            "activate": False,
        },
    ],
}


# ---------------------------------------------------------------------- helpers


@pytest.fixture
def sim(learnifier_conn: Any) -> Any:
    """The simulator with the policy's three courses."""
    with LearnifierHook() as hook:
        for name in COURSES:
            hook.create_project(
                seed.DEMO_ORG_UNIT_ID,
                name=name.title(),
                design_id=seed.ONBOARDING_DESIGN_ID,
                external_id=name,
            )
    learnifier_conn.clear_exchanges()
    return learnifier_conn


def context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def plan(policy: Any = POLICY, roster: Any = ROSTER, **kwargs: Any) -> dict[str, Any]:
    operator = LearnifierPolicyPlanOperator(
        task_id="plan", policy=policy, roster=roster, reference_date=REFERENCE, **kwargs
    )
    result = operator.execute(context())
    assert json.loads(json.dumps(result)) == result, "XCom results must be plain JSON"
    return result


def apply(policy: Any = POLICY, roster: Any = ROSTER, **kwargs: Any) -> dict[str, Any]:
    operator = LearnifierPolicyApplyOperator(
        task_id="apply", policy=policy, roster=roster, reference_date=REFERENCE, **kwargs
    )
    return operator.execute(context())


def counts(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {course["course"]: course["counts"] for course in summary["courses"]}


def writes(sim: Any) -> list[Any]:
    return [e for e in sim.exchanges if e.method in WRITES and not e.control]


def requests(sim: Any) -> list[Any]:
    return [e for e in sim.exchanges if not e.control]


def project(sim: Any, external_id: str) -> dict[str, Any]:
    (found,) = [p for p in sim.state.snapshot()["projects"] if p.get("externalId") == external_id]
    return found


def enrolled(sim: Any, external_id: str) -> dict[str, bool]:
    """The course's participants: email -> activated."""
    users = {u["id"]: u for u in sim.state.snapshot()["users"]}
    project_id = project(sim, external_id)["id"]
    return {
        users[p["userId"]]["primaryEmail"]: p["activated"]
        for p in sim.state.snapshot()["participants"]
        if p["projectId"] == project_id
    }


def enroll_directly(sim: Any, external_id: str, email: str, *, activate: bool = True) -> None:
    """A participant the policy did not make (enrolled by hand, or by last year's roster)."""
    known = {u.get("primaryEmail"): u["id"] for u in sim.state.snapshot()["users"]}
    with LearnifierHook() as hook:
        user_id = known.get(email) or hook.create_user(primary_email=email)
        found = project(sim, external_id)
        participant_id = hook.add_participant(found["orgId"], found["id"], user_id=user_id)
        if activate:
            hook.activate_participant(found["orgId"], found["id"], participant_id)


ZERO = {"add": 0, "activate": 0, "remove": 0, "keep": 0}


# ---------------------------------------------------------------------- plan, apply, plan


def test_plan_reads_only_then_apply_does_it_and_the_next_plan_is_empty(sim, openapi_spec):
    summary = plan()

    assert writes(sim) == []
    # One user listing page, then per course one project lookup and one participant listing.
    assert len(requests(sim)) == 1 + 2 * len(COURSES)
    assert counts(summary) == {
        "security": {"add": 4, "activate": 0, "remove": 0, "keep": 0},
        "sales-onboarding": {"add": 2, "activate": 0, "remove": 0, "keep": 0},
        "leaders": {"add": 1, "activate": 0, "remove": 0, "keep": 0},
    }
    assert (summary["unmatched"], summary["invalid"]) == (0, 0)
    security = summary["courses"][0]
    assert security["project_id"] == str(project(sim, "security")["id"])
    assert security["project_external_id"] == "security"
    assert summary["plan_id"].count("-") == 3

    sim.clear_exchanges()
    result = apply(plan_id=summary["plan_id"])

    assert counts(result) == counts(summary)
    assert result["failed"] == 0
    assert enrolled(sim, "security") == {row["Email"]: True for row in ROSTER}
    assert enrolled(sim, "sales-onboarding") == {"ada@acme.example": True, "bo@acme.example": True}
    assert enrolled(sim, "leaders") == {"ada@acme.example": False}  # activate: false
    emails = Counter(u.get("primaryEmail") for u in sim.state.snapshot()["users"])
    assert max(emails.values()) == 1, "a user was created twice across courses"
    validate_all(openapi_spec, sim.exchanges)

    sim.clear_exchanges()
    again = apply()
    assert writes(sim) == [], "a second apply changed something"
    assert all(course["counts"] == {**ZERO, "keep": course["counts"]["keep"]} for course in again["courses"])
    assert counts(plan()) == {
        "security": {**ZERO, "keep": 4},
        "sales-onboarding": {**ZERO, "keep": 2},
        "leaders": {**ZERO, "keep": 1},
    }


def test_the_plan_is_logged_as_a_table_and_written_in_full(sim, tmp_path, caplog, capsys):
    enroll_directly(sim, "security", "former@acme.example")
    roster = [*ROSTER, {"Email": "not-an-email", "Department": "Sales"}]
    target = tmp_path / "plans" / "plan.json"

    summary = plan(roster=roster, plan_path=str(target))

    full = json.loads(target.read_text())
    assert full["plan_id"] == summary["plan_id"]
    security = full["courses"][0]
    assert security["people"]["add"] == [row["Email"] for row in ROSTER]
    assert security["people"]["held"] == ["former@acme.example"]  # an invalid row holds removal back
    assert security["counts"]["remove"] == 0 and security["removal_held"] == 1
    assert full["invalid_rows"] == [
        {"person": "not-an-email", "row": 5, "reason": "email 'not-an-email' is not a valid email address"}
    ]
    assert summary["removal_held"].startswith("1 roster row(s) are invalid")
    logs = caplog.text + capsys.readouterr().out  # the task logger prints on Airflow 3
    assert f"Learnifier assignment plan {summary['plan_id']}" in logs
    assert "COURSE" in logs and "+ ada@acme.example" in logs
    assert "Plan: 7 to add, 0 to activate, 0 to remove, 0 kept." in logs


def test_removal_only_where_the_course_says_remove(sim):
    enroll_directly(sim, "security", "former@acme.example")
    enroll_directly(sim, "sales-onboarding", "former@acme.example")
    apply()
    assert "former@acme.example" not in enrolled(sim, "security")
    assert "former@acme.example" in enrolled(sim, "sales-onboarding")

    # A mover leaves Sales: still in security (everyone), not removed from sales (no remove: true).
    moved = [dict(row, Department="Finance") if row["Email"] == "ada@acme.example" else row for row in ROSTER]
    assert counts(plan(roster=moved))["sales-onboarding"] == {**ZERO, "keep": 1}
    # A leaver: removed from security only.
    left = ROSTER[1:]
    summary = plan(roster=left)
    assert counts(summary)["security"] == {**ZERO, "remove": 1, "keep": 3}
    apply(roster=left, plan_id=summary["plan_id"])
    assert "ada@acme.example" not in enrolled(sim, "security")
    assert "ada@acme.example" in enrolled(sim, "sales-onboarding")
    assert "ada@acme.example" in enrolled(sim, "leaders")


def test_an_activation_is_planned_for_a_selected_participant_who_is_not_activated(sim):
    enroll_directly(sim, "security", "ada@acme.example", activate=False)
    summary = plan()
    assert counts(summary)["security"] == {"add": 3, "activate": 1, "remove": 0, "keep": 0}
    result = apply()
    assert counts(result)["security"] == {"add": 3, "activate": 1, "remove": 0, "keep": 0}
    assert enrolled(sim, "security")["ada@acme.example"] is True


# ---------------------------------------------------------------------- guards


def test_a_course_guard_refuses_the_whole_apply_naming_course_and_count(sim):
    for n in range(3):
        enroll_directly(sim, "security", f"former{n}@acme.example")
        enroll_directly(sim, "leaders", f"former{n}@acme.example")
    policy = json.loads(json.dumps(POLICY))
    policy["courses"][0]["max_removals"] = 2
    policy["courses"][2].update(remove=True, max_removals=5)
    before = sim.state.snapshot()
    sim.clear_exchanges()

    ti = mock.MagicMock()
    operator = LearnifierPolicyApplyOperator(
        task_id="apply", policy=policy, roster=ROSTER, reference_date=REFERENCE
    )
    with pytest.raises(LearnifierMassRemovalError) as raised:
        operator.execute({"ti": ti})

    message = str(raised.value)
    assert "course 1 (security): removing 3 of its 3 participant(s)" in message
    assert "leaders" not in message  # within its own limit
    assert "nothing was changed in any course" in message
    assert writes(sim) == []
    assert sim.state.snapshot()["participants"] == before["participants"]
    pushed = ti.xcom_push.call_args.kwargs
    assert pushed["key"] == POLICY_SUMMARY_XCOM_KEY and pushed["value"]["refused"]


def test_the_policy_wide_limit_counts_removals_across_courses(sim):
    for n in range(2):
        enroll_directly(sim, "security", f"former{n}@acme.example")
        enroll_directly(sim, "leaders", f"former{n}@acme.example")
    policy = json.loads(json.dumps(POLICY))
    policy["max_total_removals"] = 3
    policy["courses"][0]["max_removals"] = None
    policy["courses"][2].update(remove=True, max_removals=None)
    sim.clear_exchanges()

    summary = plan(policy=policy)
    assert summary["refused"] == [
        "removing 4 participant(s) in all is more than max_total_removals (3) allows "
        "(security: 2, leaders: 2)"
    ]
    with pytest.raises(LearnifierMassRemovalError, match=r"security: 2, leaders: 2"):
        apply(policy=policy)
    assert writes(sim) == []

    policy["max_total_removals"] = 4
    result = apply(policy=policy)
    assert counts(result)["security"]["remove"] == 2 and counts(result)["leaders"]["remove"] == 2


def test_an_empty_roster_does_not_empty_the_removing_courses(sim):
    enroll_directly(sim, "security", "former@acme.example")
    with pytest.raises(LearnifierInputError, match="allow_empty_roster"):
        apply(roster=[])


# ---------------------------------------------------------------------- plan ids


@pytest.mark.parametrize("change", ["roster", "policy", "state"])
def test_an_approved_plan_is_refused_once_its_inputs_changed(sim, change):
    summary = plan()
    policy, roster = POLICY, ROSTER
    if change == "roster":
        roster = [*ROSTER, {"Email": "new@acme.example", "Department": "Sales", "Hire Date": "2026-05-30"}]
        expected = "the roster changed"
    elif change == "policy":
        policy = json.loads(json.dumps(POLICY))
        policy["courses"][2]["activate"] = True
        expected = "the policy (or the date its relative dates count from) changed"
    else:
        enroll_directly(sim, "leaders", "someone@acme.example")
        expected = "Learnifier's state (the courses' participants) changed"
    sim.clear_exchanges()

    with pytest.raises(PlanChangedError) as raised:
        apply(policy=policy, roster=roster, plan_id=summary["plan_id"])

    assert expected in str(raised.value)
    assert summary["plan_id"] in str(raised.value)
    assert writes(sim) == []


def test_a_plan_id_is_stable_for_equal_inputs(sim):
    first = plan()
    second = plan(policy=json.loads(json.dumps(POLICY)), roster=[dict(row) for row in ROSTER])
    assert first["plan_id"] == second["plan_id"]
    moved = LearnifierPolicyPlanOperator(
        task_id="plan", policy=POLICY, roster=ROSTER, reference_date="2026-09-01"
    ).execute(context())
    assert moved["plan_id"].split("-")[1:3] == first["plan_id"].split("-")[1:3]
    assert moved["plan_id"] != first["plan_id"], "relative dates count from another day"


# ---------------------------------------------------------------------- one course


def test_the_course_argument_reads_and_applies_one_course(sim):
    whole = plan()
    sim.clear_exchanges()
    summary = plan(course="leaders")
    assert [course["course"] for course in summary["courses"]] == ["leaders"]
    assert len(requests(sim)) == 1 + 2
    assert summary["courses"][0]["plan_id"] == whole["courses"][2]["plan_id"]
    with pytest.raises(PlanChangedError, match="compares its plan_id with that course's own"):
        apply(course="leaders", plan_id=whole["plan_id"])
    result = apply(course="leaders", plan_id=summary["courses"][0]["plan_id"])
    assert counts(result) == {"leaders": {**ZERO, "add": 1}}
    assert enrolled(sim, "security") == {}
    with pytest.raises(
        LearnifierInputError, match="no course 'nope'; its courses are security, sales-onboarding"
    ):
        plan(course="nope")


def test_a_mapped_apply_does_one_course_per_task(sim, run_dag, tmp_path):
    import yaml

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(POLICY))

    dag_run = run_dag("operators_policy_mapped", {"policy": str(policy_file), "roster": ROSTER})

    assert dag_run.state == "success"
    applies = [ti for ti in dag_run.get_task_instances() if ti.task_id == "apply"]
    assert sorted(ti.map_index for ti in applies) == [0, 1, 2]
    assert set(enrolled(sim, "security")) == {row["Email"] for row in ROSTER}
    assert enrolled(sim, "leaders") == {"ada@acme.example": False}


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda p: p["courses"][1].update(remvoe=True),
            "course 2 (sales-onboarding): unknown key(s) 'remvoe'",
        ),
        (
            lambda p: p["courses"][2]["who"].update(grade="A"),
            "course 3 (leaders): who.grade: the roster has no column 'grade'",
        ),
        (
            lambda p: p["courses"][2]["who"]["role"].update(matches="(?i)manager|(lead"),
            "course 3 (leaders): who.role.matches: '(?i)manager|(lead' is not a valid regular expression",
        ),
        (
            lambda p: p["courses"][1]["who"]["hire_date"].update(after="-90days"),
            "course 2 (sales-onboarding): who.hire_date.after: '-90days' is not a date",
        ),
        (
            lambda p: p["courses"][1]["who"]["hire_date"].update(after="2026-02-30"),
            "course 2 (sales-onboarding): who.hire_date.after: '2026-02-30' is not a date",
        ),
    ],
    ids=["unknown key", "missing column", "bad regex", "bad relative date", "bad calendar date"],
)
def test_a_typo_fails_before_any_request_naming_course_and_key(sim, edit, expected):
    policy = json.loads(json.dumps(POLICY))
    edit(policy)
    for operator in (plan, apply):
        with pytest.raises(PolicyError) as raised:
            operator(policy=policy)
        assert expected in str(raised.value)
    assert requests(sim) == []


def test_invalid_rows_fail_the_apply_before_any_change_unless_allowed(sim):
    enroll_directly(sim, "security", "former@acme.example")
    roster = [*ROSTER, {"Email": "x@acme.example", "Department": "Sales", "Hire Date": "soon"}]
    sim.clear_exchanges()
    summary = plan(roster=roster)
    assert summary["invalid"] == 1

    with pytest.raises(LearnifierInputError, match=r"hire_date 'soon' is not a date"):
        apply(roster=roster)
    assert writes(sim) == []

    result = apply(roster=roster, max_failures=1)
    assert counts(result)["security"] == {**ZERO, "add": 4}
    assert "former@acme.example" in enrolled(sim, "security"), "removed on an incomplete picture"


def test_a_crash_mid_way_then_a_rerun_ends_in_the_state_the_policy_selects(sim, mocker):
    real = LearnifierHook.add_participant
    calls = Counter[str]()

    def crash_on_the_fourth(self: LearnifierHook, *args: Any, **kwargs: Any) -> Any:
        calls["add"] += 1
        if calls["add"] == 4:
            raise KeyboardInterrupt("the worker died")  # not an error the engine handles
        return real(self, *args, **kwargs)

    mocker.patch.object(LearnifierHook, "add_participant", crash_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        apply()
    mocker.stopall()
    assert 0 < sum(len(enrolled(sim, course)) for course in COURSES) < 7

    result = apply()

    assert result["failed"] == 0
    assert all(course["counts"]["remove"] == 0 for course in result["courses"])
    assert set(enrolled(sim, "security")) == {row["Email"] for row in ROSTER}
    assert set(enrolled(sim, "sales-onboarding")) == {"ada@acme.example", "bo@acme.example"}
    emails = Counter(u.get("primaryEmail") for u in sim.state.snapshot()["users"])
    assert max(emails.values()) == 1
    assert counts(plan())["security"] == {**ZERO, "keep": 4}


def test_the_full_plan_goes_to_an_object_store_url(sim, tmp_path):
    summary = plan(plan_path=f"file://{tmp_path}/plan.json")
    assert json.loads((tmp_path / "plan.json").read_text())["plan_id"] == summary["plan_id"]
