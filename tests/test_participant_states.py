"""Participant states: each state against an independent model, milestones, hostile data, selectors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError
from airflow_provider_learnifier.participant_states import (
    STATE_NAMES,
    StateRule,
    StateSelector,
    classify,
    read_participation,
    reference_time,
)
from airflow_provider_learnifier.progress import activation_state, project_progress
from tests.state_model import model_states

AS_OF = datetime(2026, 3, 10, 6, 0, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def days_ago(days: float) -> str:
    return iso(AS_OF - timedelta(days=days))


def participation(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 3001,
        "projectId": 2001,
        "userId": "u-1",
        "activated": True,
        "inError": False,
        "activitiesCompleted": 0,
        "activitiesTotal": 5,
        "firstActivation": days_ago(10),
        "lastActivation": days_ago(10),
        "expiration": iso(AS_OF + timedelta(days=300)),
        "accessLink": "https://learn.example/access/abc",
    }
    base.update(fields)
    return {name: value for name, value in base.items() if value is not ...}


def names(matches: Any) -> set[str]:
    return {match.state for match in matches}


ALL_DAYS = {"not_started": 7, "stalled": 14, "expiring": 14, "in_error": 0, "overdue": 0, "completed": 0}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {"not_started"}),
        ({"firstActivation": days_ago(6), "lastActivation": days_ago(6)}, set()),
        ({"firstActivation": None, "lastActivation": days_ago(8)}, {"not_started"}),
        ({"firstActivation": ..., "lastActivation": ...}, set()),  # activated, but never known when
        ({"firstAccess": days_ago(20), "lastAccess": days_ago(15)}, {"stalled"}),
        ({"firstAccess": days_ago(20), "lastAccess": days_ago(13)}, set()),
        ({"firstAccess": days_ago(15), "lastAccess": None}, {"stalled"}),
        ({"expiration": iso(AS_OF + timedelta(days=5))}, {"not_started", "expiring"}),
        ({"expiration": iso(AS_OF - timedelta(days=1))}, set()),  # expired: no reminder helps
        ({"inError": True, "errorMessage": "seat revoked"}, {"in_error"}),
        ({"activitiesCompleted": 5}, {"completed"}),
        ({"activitiesCompleted": "5", "activitiesTotal": "5"}, {"completed"}),
        ({"activated": False}, set()),
        ({"activated": None}, {"not_started"}),  # null: activation times say it was activated
        ({"firstAccess": iso(AS_OF + timedelta(days=1))}, set()),  # accessed after a past run's date
    ],
)
def test_each_state_as_the_guide_defines_it(fields, expected):
    raw = participation(**fields)
    assert names(classify(raw, AS_OF, [StateRule(name) for name in STATE_NAMES])) == expected
    assert names(classify(raw, AS_OF, [StateRule(n) for n in STATE_NAMES])) == model_states(
        raw, AS_OF, ALL_DAYS
    )


def test_overdue_needs_the_course_due_date():
    raw = participation(firstAccess=days_ago(2))
    assert names(classify(raw, AS_OF, [StateRule("overdue")])) == set()
    assert names(classify(raw, AS_OF, [StateRule("overdue")], due=AS_OF)) == {"overdue"}
    assert names(classify(raw, AS_OF, [StateRule("overdue")], due=AS_OF + timedelta(seconds=1))) == set()
    done = participation(activitiesCompleted=5)
    assert names(classify(done, AS_OF, [StateRule("overdue")], due=AS_OF - timedelta(days=3))) == set()


_offsets = st.one_of(st.none(), st.integers(min_value=-400 * 24, max_value=400 * 24))


@given(
    offsets=st.fixed_dictionaries(
        {
            "firstActivation": _offsets,
            "lastActivation": _offsets,
            "firstAccess": _offsets,
            "lastAccess": _offsets,
            "expiration": _offsets,
        }
    ),
    activated=st.sampled_from([True, False, None]),
    in_error=st.booleans(),
    completed=st.integers(min_value=0, max_value=6),
    total=st.integers(min_value=0, max_value=5),
    days=st.fixed_dictionaries(
        {name: st.integers(min_value=0, max_value=60) for name in ("not_started", "stalled", "expiring")}
    ),
    due_offset=_offsets,
)
def test_classification_agrees_with_the_model(
    offsets, activated, in_error, completed, total, days, due_offset
):
    """Whatever the timestamps (null included), the states are those the independent model computes."""
    raw = participation(
        activated=activated,
        inError=in_error,
        activitiesCompleted=completed,
        activitiesTotal=total,
        **{
            name: None if hours is None else iso(AS_OF + timedelta(hours=hours))
            for name, hours in offsets.items()
        },
    )
    due = None if due_offset is None else AS_OF + timedelta(hours=due_offset)
    rules = [StateRule(name, days.get(name)) for name in STATE_NAMES]
    wanted = {**days, "in_error": 0, "overdue": 0, "completed": 0}
    assert names(classify(raw, AS_OF, rules, due=due)) == model_states(raw, AS_OF, wanted, due)


def test_a_milestone_lasts_as_long_as_the_state_and_changes_when_it_starts_again():
    rules = [StateRule("stalled", 14), StateRule("not_started", 7), StateRule("expiring", 14)]
    stalled = participation(firstAccess=days_ago(30), lastAccess=days_ago(20))
    (first,) = classify(stalled, AS_OF, rules)
    (later,) = classify(stalled, AS_OF + timedelta(days=5), rules)
    assert first.milestone == later.milestone
    accessed_again = participation(firstAccess=days_ago(30), lastAccess=iso(AS_OF + timedelta(days=1)))
    (again,) = classify(accessed_again, AS_OF + timedelta(days=16), rules)
    assert again.state == "stalled" and again.milestone != first.milestone

    reactivated = participation(firstActivation=days_ago(10), lastActivation=days_ago(1))
    (not_started,) = classify(reactivated, AS_OF, rules)
    assert not_started.milestone == f"activated:{days_ago(10)}"  # a reactivation is the same invitation
    renewed = [
        classify(
            participation(expiration=iso(AS_OF + timedelta(days=d)), firstAccess=days_ago(1)), AS_OF, rules
        )
        for d in (3, 4)
    ]
    assert [m.state for (m,) in renewed] == ["expiring", "expiring"]
    assert renewed[0][0].milestone != renewed[1][0].milestone


def test_every_days_repeats_the_milestone_once_per_period():
    rule = StateRule("not_started", 7, every_days=7)
    raw = participation(firstActivation=days_ago(7), lastActivation=days_ago(7))
    milestones = [classify(raw, AS_OF + timedelta(days=d), [rule])[0].milestone for d in (0, 6, 7, 13, 14)]
    assert [m.rsplit("#", 1)[1] for m in milestones] == ["0", "0", "1", "1", "2"]


def test_an_error_message_change_is_a_new_in_error_milestone():
    first = classify(participation(inError=True, errorMessage="seat revoked"), AS_OF, [StateRule("in_error")])
    same = classify(participation(inError=True, errorMessage="seat revoked"), AS_OF, [StateRule("in_error")])
    other = classify(
        participation(inError=True, errorMessage="license ended"), AS_OF, [StateRule("in_error")]
    )
    assert first[0].milestone == same[0].milestone != other[0].milestone
    assert "seat" not in first[0].milestone  # the message may name the person: only its digest


def test_the_due_of_a_match_is_the_course_due_else_the_expiration():
    raw = participation()
    (match,) = classify(raw, AS_OF, [StateRule("not_started")])
    assert match.due == AS_OF + timedelta(days=300)
    (match,) = classify(raw, AS_OF, [StateRule("not_started")], due=AS_OF + timedelta(days=2))
    assert match.due == AS_OF + timedelta(days=2)


def test_spec_variants_of_values_read_the_same():
    variants = participation(
        id="3001",
        projectId="2001",
        activitiesCompleted="0",
        firstActivation=(AS_OF - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%S"),  # naive: UTC
        lastActivation=(AS_OF - timedelta(days=10)).isoformat(),
        expiration=(AS_OF + timedelta(days=300)).astimezone(timezone(timedelta(hours=2))).isoformat(),
        **{"x-vendorField": "simulated"},
    )
    plain = participation()
    assert classify(variants, AS_OF) == classify(plain, AS_OF)
    assert read_participation(variants).id == read_participation(plain).id == "3001"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"id": None}, "id"),
        ({"id": "../3001"}, "id"),
        ({"id": True}, "id"),
        ({"userId": "u 1"}, "userId"),
        ({"activated": "yes"}, "activated"),
        ({"inError": 1}, "inError"),
        ({"activitiesTotal": "five"}, "activitiesTotal"),
        ({"firstAccess": "2026-02-30T10:00:00Z"}, "firstAccess"),
        ({"expiration": True}, "expiration"),
        ({"lastAccess": {"at": 1}}, "lastAccess"),
        ({"accessLink": "javascript:alert(1)"}, "accessLink"),
        ({"accessLink": "http://learn.example/access/abc"}, "accessLink"),
        (
            {"accessLink": "https://learn.example/orgunits/1/projects/2/participants/3/loginlink"},
            "accessLink",
        ),
        ({"accessLink": "https://learn.example/a b"}, "accessLink"),
        ({"accessLink": 17}, "accessLink"),
    ],
)
def test_hostile_values_are_refused_naming_the_field(fields, field):
    with pytest.raises(LearnifierParticipantDataError) as caught:
        classify(participation(**fields), AS_OF)
    assert caught.value.field == field


@given(
    activated=st.sampled_from([True, False, None, "absent"]),
    first_activation=st.sampled_from([days_ago(3), 1772359200, "", None, "absent"]),
    last_activation=st.sampled_from([days_ago(1), None, "absent"]),
    access_link=st.sampled_from(["https://learn.example.com/access/7", "", None, "absent"]),
)
def test_the_states_the_report_and_the_completion_checks_agree_on_who_is_activated(
    activated, first_activation, last_activation, access_link
):
    fields = {
        "activated": activated,
        "firstActivation": first_activation,
        "lastActivation": last_activation,
        "accessLink": access_link,
    }
    raw = participation(activitiesCompleted=5) | {k: v for k, v in fields.items() if v != "absent"}
    for name, value in fields.items():
        if value == "absent":
            raw.pop(name, None)

    read = read_participation(raw).activated
    assert read == (activation_state(raw) is True) == bool(project_progress([raw]).activated)
    if isinstance(activated, bool):
        assert read is activated


def test_a_participation_that_is_no_object_is_refused():
    with pytest.raises(LearnifierParticipantDataError, match="not an object"):
        read_participation(["id", 3001])


def test_the_reference_time_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        classify(participation(), datetime(2026, 3, 10))


# ---------------------------------------------------------------------- rules and selectors


@pytest.mark.parametrize(
    ("state", "parameters", "message"),
    [
        ("late", None, "unknown participant state"),
        ("in_error", {"days": 3}, "takes no days"),
        ("completed", {"every_days": 3}, "takes no every_days"),
        ("stalled", {"days": -1}, "number of days"),
        ("stalled", {"days": float("nan")}, "number of days"),
        ("stalled", {"days": True}, "number of days"),
        ("stalled", {"every_days": 0}, "above 0"),
        ("stalled", {"weeks": 2}, "unknown parameter"),
        ("stalled", [14], "must be a mapping"),
    ],
)
def test_bad_rules_are_refused_clearly(state, parameters, message):
    with pytest.raises(ValueError, match=message):
        StateRule.from_spec(state, parameters)


def test_a_course_combines_its_org_unit_scope_with_its_own():
    due = "2026-03-01T00:00:00Z"
    selector = StateSelector.from_spec(
        [
            {"org_id": 1001, "states": {"not_started": {"days": 7}, "expiring": {"days": 14}}},
            {
                "org_id": "1001",
                "project_ids": [2002],
                "due": due,
                "states": {"overdue": {}, "not_started": {"days": 3}},
            },
            {"project_external_ids": "onboarding", "states": ["in_error"]},
        ]
    )
    other = selector.rules_for("1001", "2001")
    assert other.states == ("not_started", "expiring") and other.due is None
    assert other.rules[0].days == 7
    named = selector.rules_for(1001, 2002)
    assert named.states == ("not_started", "expiring", "overdue")
    assert named.rules[0].days == 3
    assert named.due == datetime(2026, 3, 1, tzinfo=timezone.utc)
    by_external_id = selector.rules_for("1009", "7", external_id="onboarding")
    assert by_external_id.states == ("in_error",)
    assert selector.rules_for("1009", "8").states == ()
    assert selector.states == ("not_started", "expiring", "in_error", "overdue")
    assert StateSelector.from_spec(selector.to_spec()) == selector
    raw = participation(firstActivation=days_ago(4), lastActivation=days_ago(4))
    assert names(selector.classify("1001", "2002", raw, AS_OF)) == {"not_started", "overdue"}
    assert names(selector.classify("1001", "2001", raw, AS_OF)) == set()


def test_a_selector_may_be_text_or_one_scope():
    text = '{"org_id": "1001", "states": ["completed"]}'
    assert StateSelector.from_spec(text).rules_for("1001", "1").states == ("completed",)
    rendered = "[{'org_id': '1001', 'states': {'stalled': {'days': 3}}}]"  # a template rendered as text
    assert StateSelector.from_spec(rendered).rules_for("1001", "1").rules == (StateRule("stalled", 3),)


def test_scopes_that_disagree_about_a_course_are_refused():
    selector = StateSelector.from_spec(
        [
            {"org_id": "1001", "project_ids": ["2002"], "states": {"stalled": {"days": 3}}},
            {"org_id": "1001", "project_ids": ["2002"], "states": {"stalled": {"days": 4}}},
        ]
    )
    with pytest.raises(ValueError, match="different stalled parameters"):
        selector.rules_for("1001", "2002")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "at least one scope"),
        ("not json", "must be JSON"),
        (42, "list of scopes"),
        ([{"states": ["completed"]}], "names its courses"),
        ([{"project_ids": ["2001"], "states": ["completed"]}], "need the org_id"),
        ([{"org_id": "1001", "states": []}], "at least one state"),
        ([{"org_id": "1001", "states": "completed", "when": 1}], "unknown scope member"),
        ([{"org_id": "../x", "states": ["completed"]}], "not a valid Learnifier id"),
        ([{"org_id": "1001", "states": ["completed"], "due": "soon"}], "due must be"),
        ([{"org_id": "1001", "states": 7}], "states must be"),
    ],
)
def test_bad_selector_specs_are_refused_clearly(spec, message):
    with pytest.raises(ValueError, match=message):
        StateSelector.from_spec(spec)


def test_the_reference_time_is_the_logical_date_else_the_interval_end_else_run_after():
    later = AS_OF + timedelta(days=1)
    assert reference_time({"logical_date": AS_OF, "data_interval_end": later}) == AS_OF
    assert reference_time({"logical_date": None, "data_interval_end": later}) == later
    assert reference_time({"dag_run": SimpleNamespace(run_after=later)}) == later
    with pytest.raises(ValueError, match="no logical date"):
        reference_time({})
