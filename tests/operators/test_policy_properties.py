"""Property-based tests of assignment policies: random rosters and policies, against the simulator.

Each example draws a roster of people with HR columns, a policy of one to three courses whose
selectors combine equality, lists, regular expressions, relative dates, ``not``, ``any`` and
``all``, participants already in the courses (people on the roster and people who left), and a
simulator whose answers vary in every way the spec permits, with random faults in some examples.
Whatever happens:

- once an apply has run without faults, the next plan has nothing to add, activate or remove;
- the courses then hold exactly what the policy selects (and, where ``remove`` is off, whoever
  was there before), activated where the course activates; one user per person. The one
  exception: a participant whom no answer said was activated or not (``drop_optional``) is not
  activated but named in the apply's ``activation_unknown_people``;
- after a random edit of the roster (leavers, movers, new hires) the plan's counts equal those
  of a model computed here, independently of the provider's selector code.

``make test`` runs a few examples (the ``dev`` profile of ``tests/conftest.py``); CI's property
stage runs more (``HYPOTHESIS_PROFILE=ci``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from unittest import mock

from hypothesis import event, given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.policy import (
    LearnifierPolicyApplyOperator,
    LearnifierPolicyPlanOperator,
)
from learnifier_simulator import FaultConfig, LearnifierSimulator, seed
from tests.operators.variants import faults, variants

if TYPE_CHECKING:
    import pytest

    from learnifier_simulator.variants import SpecVariants

CONNECTION_VARIABLE = "AIRFLOW_CONN_LEARNIFIER_DEFAULT"
FAST_RETRIES = {"backoff_factor": 0.001, "max_retries": 3}
REFERENCE = "2026-06-01"
#: -90d from REFERENCE: hired on or after this day.
RECENT = "2026-03-03"
COURSES = ("course-a", "course-b", "course-c")

Row = dict[str, str]
Predicate = Callable[[Row], bool]

DEPARTMENTS = ("Sales", "Engineering", "HR")
COUNTRIES = ("US", "SE")
ROLES = ("Engineer", "Sales Manager", "Team Lead", "Analyst")
HIRE_DATES = ("2026-05-20", "2026-03-03", "2026-03-02", "2019-11-30")


# ---------------------------------------------------------------------- strategies


def _person(draw: Any, n: int) -> Row:
    return {
        "Email": f"p{n}@acme.example",
        "External ID": f"E{n}",
        "Department": draw(st.sampled_from(DEPARTMENTS)),
        "Country": draw(st.sampled_from(COUNTRIES)),
        "Role": draw(st.sampled_from(ROLES)),
        "Hire Date": draw(st.sampled_from(HIRE_DATES)),
    }


#: A condition on one column: (the policy's YAML, the test's own reading of it).
atoms: st.SearchStrategy[tuple[Any, Predicate]] = st.one_of(
    st.sampled_from(DEPARTMENTS).map(lambda d: ({"department": d}, lambda r, d=d: r["Department"] == d)),
    st.lists(st.sampled_from(DEPARTMENTS), min_size=1, max_size=2, unique=True).map(
        lambda ds: ({"Department": ds}, lambda r, ds=ds: r["Department"] in ds)
    ),
    st.sampled_from(COUNTRIES).map(
        lambda c: ({"country": {"in": [c.lower()], "ignore_case": True}}, lambda r, c=c: r["Country"] == c)
    ),
    st.just(
        (
            {"role": {"matches": "(?i)manager|lead"}},
            lambda r: "manager" in r["Role"].lower() or "lead" in r["Role"].lower(),
        )
    ),
    st.just(({"hire_date": {"after": "-90d"}}, lambda r: r["Hire Date"] >= RECENT)),
    st.just(({"hireDate": {"before": "2026-01-01"}}, lambda r: r["Hire Date"] < "2026-01-01")),
)


def _combine(children: st.SearchStrategy[tuple[Any, Predicate]]) -> st.SearchStrategy[tuple[Any, Predicate]]:
    def negate(child: tuple[Any, Predicate]) -> tuple[Any, Predicate]:
        return {"not": child[0]}, lambda r: not child[1](r)

    def either(pair: list[tuple[Any, Predicate]]) -> tuple[Any, Predicate]:
        return {"any": [c[0] for c in pair]}, lambda r: any(c[1](r) for c in pair)

    def both(pair: list[tuple[Any, Predicate]]) -> tuple[Any, Predicate]:
        return {"all": [c[0] for c in pair]}, lambda r: all(c[1](r) for c in pair)

    pairs = st.lists(children, min_size=2, max_size=2)
    return st.one_of(children.map(negate), pairs.map(either), pairs.map(both))


selectors = st.one_of(
    st.just(("all", lambda r: True)),
    st.recursive(atoms, _combine, max_leaves=4),
)


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    """A roster, a policy, who is in which course already, and an edit of the roster."""
    count = draw(st.integers(1, 8))
    roster = [_person(draw, n) for n in range(count)]
    courses = []
    predicates = {}
    for name in COURSES[: draw(st.integers(1, len(COURSES)))]:
        who, predicate = draw(selectors)
        course = {"project_external_id": name, "who": who, "max_removals": None}
        if draw(st.booleans()):
            course["remove"] = True
        if draw(st.booleans()):
            course["activate"] = False
        courses.append(course)
        predicates[name] = predicate
    # Already there: some people of the roster, and people who left (not on it).
    leavers = [f"gone{n}@acme.example" for n in range(draw(st.integers(0, 2)))]
    before = {
        name: draw(
            st.lists(st.sampled_from([row["Email"] for row in roster] + leavers), unique=True, max_size=4)
        )
        for name in predicates
    }
    # The edit: some leave, some move, some are hired.
    edited = []
    for row in roster:
        fate = draw(st.sampled_from(["stay", "stay", "leave", "move"]))
        if fate == "leave":
            continue
        if fate == "move":
            row = dict(row, Department=draw(st.sampled_from(DEPARTMENTS)), Role=draw(st.sampled_from(ROLES)))
        edited.append(row)
    edited.extend(_person(draw, n) for n in range(count, count + draw(st.integers(0, 3))))
    return {
        "roster": roster,
        "policy": {"version": 1, "courses": courses},
        "predicates": predicates,
        "before": before,
        "edited": edited,
    }


# ---------------------------------------------------------------------- the simulator


def _setup(sim: LearnifierSimulator, scenario: dict[str, Any]) -> None:
    with LearnifierHook() as hook:
        users: dict[str, str] = {}
        for course in scenario["policy"]["courses"]:
            name = course["project_external_id"]
            project = hook.create_project(
                seed.DEMO_ORG_UNIT_ID, name=name, design_id=seed.ONBOARDING_DESIGN_ID, external_id=name
            )
            for email in scenario["before"][name]:
                if email not in users:
                    external_id = "E" + email[1:].split("@")[0] if email.startswith("p") else None
                    users[email] = hook.create_user(primary_email=email, external_id=external_id)
                participant = hook.add_participant(project["orgId"], project["id"], user_id=users[email])
                if email.endswith("0@acme.example"):  # some of those already there are not activated
                    continue
                hook.activate_participant(project["orgId"], project["id"], participant)


def _state(sim: LearnifierSimulator) -> dict[str, dict[str, bool]]:
    """Per course external id: the participants' emails and whether each is activated."""
    snapshot = sim.state.snapshot()
    users = {u["id"]: u for u in snapshot["users"]}
    projects = {p["id"]: p["externalId"] for p in snapshot["projects"] if p.get("externalId") in COURSES}
    state: dict[str, dict[str, bool]] = {name: {} for name in projects.values()}
    for participant in snapshot["participants"]:
        if participant["projectId"] in projects:
            email = users[participant["userId"]]["primaryEmail"]
            state[projects[participant["projectId"]]][email] = participant["activated"]
    return state


def _run(operator_class: type, scenario: dict[str, Any], roster: list[Row]) -> dict[str, Any]:
    operator = operator_class(
        task_id="policy",
        policy=scenario["policy"],
        roster=roster,
        reference_date=REFERENCE,
        max_failures=len(roster),
    )
    return operator.execute({"ti": mock.MagicMock()})


def _model_counts(
    scenario: dict[str, Any], roster: list[Row], state: dict[str, dict[str, bool]]
) -> dict[str, Any]:
    """What a plan must count, computed from the roster, the state and the test's own predicates."""
    expected = {}
    for course in scenario["policy"]["courses"]:
        name = course["project_external_id"]
        there = state[name]
        chosen = {row["Email"] for row in roster if scenario["predicates"][name](row)}
        activate = course.get("activate", True)
        counts = {"add": 0, "activate": 0, "remove": 0, "keep": 0}
        for email in chosen:
            if email not in there:
                counts["add"] += 1
            elif activate and not there[email]:
                counts["activate"] += 1
            else:
                counts["keep"] += 1
        if course.get("remove"):
            counts["remove"] = len(set(there) - chosen)
        expected[name] = counts
    return expected


def _unknown_emails(summary: dict[str, Any], roster: list[Row]) -> dict[str, set[str]]:
    """Per course: the emails of those an apply left alone, not knowing whether they are activated."""
    email_of = {row["External ID"]: row["Email"] for row in roster}
    return {
        course["course"]: {email_of[label] for label in course.get("activation_unknown_people", [])}
        for course in summary["courses"]
    }


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    return {course["course"]: course["counts"] for course in summary["courses"]}


def _assert_counts(summary: dict[str, Any], expected: dict[str, Any], spec_variants: SpecVariants) -> None:
    """The plan counts what the model counts. A listing may leave a participant's ``activated``
    out (``drop_optional``): such a participant is kept, not counted for activation."""
    counts = _counts(summary)
    if not spec_variants.drop_optional:
        assert counts == expected
        return
    assert counts.keys() == expected.keys()
    for name, wanted in expected.items():
        got = counts[name]
        assert (got["add"], got["remove"]) == (wanted["add"], wanted["remove"]), name
        assert got["activate"] + got["keep"] == wanted["activate"] + wanted["keep"], name
        assert got["activate"] <= wanted["activate"], name


@given(scenario=scenarios(), spec_variants=variants, fault_config=faults)
def test_apply_then_plan_is_empty_and_plans_match_an_independent_model(
    monkeypatch: pytest.MonkeyPatch,
    scenario: dict[str, Any],
    spec_variants: SpecVariants,
    fault_config: FaultConfig | None,
) -> None:
    roster = scenario["roster"]
    with LearnifierSimulator(seed="demo", tls=False) as sim:
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(extra=FAST_RETRIES))
        _setup(sim, scenario)
        before = _state(sim)
        sim.variants = spec_variants

        # The first plan counts what the model counts, and changes nothing.
        _assert_counts(
            _run(LearnifierPolicyPlanOperator, scenario, roster),
            _model_counts(scenario, roster, before),
            spec_variants,
        )
        assert _state(sim) == before

        if fault_config is not None:
            sim.faults = fault_config
            try:
                _run(LearnifierPolicyApplyOperator, scenario, roster)
                event("apply under faults succeeded")
            except LearnifierError as error:  # faults broke it; the rerun must mend it
                event(f"apply under faults failed: {type(error).__name__}")
            sim.faults = FaultConfig()
        result = _run(LearnifierPolicyApplyOperator, scenario, roster)
        assert result["failed"] == 0, result
        unknown = _unknown_emails(result, roster)
        if not spec_variants.drop_optional:
            assert not any(unknown.values()), result
        if any(unknown.values()):
            event("the apply left a participant of unknown activation alone")

        after = _state(sim)
        plan = _run(LearnifierPolicyPlanOperator, scenario, roster)
        for course in plan["courses"]:
            counts = course["counts"]
            assert (counts["add"], counts["remove"]) == (0, 0), plan
            assert counts["activate"] <= len(unknown[course["course"]]), plan
        for course in scenario["policy"]["courses"]:
            name = course["project_external_id"]
            chosen = {row["Email"] for row in roster if scenario["predicates"][name](row)}
            there = after[name]
            if course.get("remove"):
                assert set(there) == chosen, f"{name}: the course is not what the policy selects"
            else:
                assert chosen <= set(there) <= chosen | set(before[name]), f"{name}: removed or added wrongly"
            for email, activated in there.items():
                if email in chosen and course.get("activate", True):
                    assert activated or email in unknown[name], (
                        f"{name}: {email} is selected and not activated"
                    )
                elif email in before[name]:
                    assert activated == before[name][email], (
                        f"{name}: {email} was activated by a course that does not"
                    )
                else:
                    assert not activated, f"{name}: {email} was activated by a course that does not"
        emails = Counter(u.get("primaryEmail") for u in sim.state.snapshot()["users"])
        assert max(emails.values()) == 1, "a person has two users"
        event(f"{sum(len(v) for v in after.values())} participant(s) after the apply")

        # A random edit of the roster: the plan counts what the model counts.
        edited = scenario["edited"]
        _assert_counts(
            _run(LearnifierPolicyPlanOperator, scenario, edited),
            _model_counts(scenario, edited, after),
            spec_variants,
        )
