"""Participant and project progress: counts as the spec permits them, shares, never-completing reasons,
and the timestamps Learnifier sends."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierResponseError
from airflow_provider_learnifier.progress import (
    ProjectProgress,
    activation_state,
    activity_count,
    completed_share,
    completion_share,
    in_error,
    is_completed,
    never_completes,
    percent,
    project_progress,
    share_of,
    timestamp,
    utc_iso,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def participant(completed: object = 0, total: object = 5, **fields: object) -> dict[str, object]:
    return {
        "id": 3001,
        "projectId": 2001,
        "activitiesCompleted": completed,
        "activitiesTotal": total,
    } | fields


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        ("3", 3),
        (" 3 ", 3),
        (3.0, 3),
        ("3.0", 3),
        (2.5, 2.5),
        ("2.5", 2.5),
        (None, 0),
        ("", 0),
        ("  ", 0),
    ],
)
def test_counts_are_read_as_numbers_whatever_json_type_carries_them(value, expected):
    count = activity_count(participant(completed=value), "activitiesCompleted")
    assert count == expected
    assert type(count) is type(expected)


def test_an_absent_count_is_zero():
    assert activity_count({"id": 1}, "activitiesTotal") == 0


@pytest.mark.parametrize("value", ["three", True, math.nan, "nan", math.inf, "-inf", [3], {"n": 3}])
def test_a_count_that_is_not_a_number_is_a_response_error_naming_it(value):
    with pytest.raises(LearnifierResponseError) as error:
        activity_count(participant(completed=value), "activitiesCompleted")
    assert "participant 3001 (project 2001)" in str(error.value)
    assert f"activitiesCompleted {value!r}" in str(error.value)


@pytest.mark.parametrize(
    ("completed", "total", "share"),
    [
        (0, 5, 0.0),
        (2, 5, 0.4),
        (5, 5, 1.0),
        (7, 5, 1.0),
        (-1, 5, 0.0),
        (3, 0, 0.0),
        (0, 0, 0.0),
        ("1", "4", 0.25),
    ],
)
def test_the_share_is_completed_over_total_kept_between_0_and_1(completed, total, share):
    assert completion_share(participant(completed, total)) == share


@pytest.mark.parametrize(
    ("completed", "total", "min_share", "expected"),
    [
        (5, 5, 1.0, True),
        (4, 5, 1.0, False),
        (4, 5, 0.8, True),
        (3, 5, 0.8, False),
        (6, 5, 1.0, True),
        (0, 0, 1.0, False),  # no activities: nothing was completed
        (0, 0, 0.1, False),
    ],
)
def test_completed_means_at_least_the_share_of_some_activities(completed, total, min_share, expected):
    assert is_completed(participant(completed, total), min_share) is expected


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.0, "0%"), (2 / 3, "67%"), (0.994, "99%"), (0.995, "99%"), (999 / 1000, "99%"), (1.0, "100%")],
)
def test_percent_never_shows_100_before_it_is_reached(share, text):
    assert percent(share) == text


def test_a_participation_in_error_never_completes_and_says_why():
    assert never_completes(participant(inError=True, errorMessage="no seat left"), NOW) == (
        "the participation is in error: no seat left"
    )
    assert never_completes(participant(inError=True), NOW) == "the participation is in error: no reason given"


@pytest.mark.parametrize("flag", ["false", "true", 1, 0, "", [], {}])
def test_an_in_error_flag_that_is_no_boolean_says_nothing(flag):
    # A server outside the spec: "false" is truthy, and must not fail a completion check.
    assert in_error(participant(inError=flag)) is False
    assert never_completes(participant(inError=flag), NOW) is None


@pytest.mark.parametrize(
    ("fields", "expected"), [({"inError": True}, True), ({"inError": False}, False), ({}, False)]
)
def test_only_in_error_true_is_in_error(fields, expected):
    assert in_error(participant(**fields)) is expected
    assert in_error(None) is False


def test_an_expired_participation_never_completes_and_a_future_one_still_can():
    past = (NOW - timedelta(days=1)).isoformat()
    future = (NOW + timedelta(days=1)).isoformat()
    assert (
        never_completes(participant(expiration=past), NOW)
        == "the participation expired at 2026-02-28T12:00:00+00:00"
    )
    assert never_completes(participant(expiration=future), NOW) is None
    # A timestamp without an offset is read as UTC.
    assert never_completes(participant(expiration="2026-02-28T12:00:00"), NOW) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-28T12:00:00.1Z", datetime(2026, 2, 28, 12, 0, 0, 100000, tzinfo=timezone.utc)),
        ("2026-02-28T12:00:00.1234567Z", datetime(2026, 2, 28, 12, 0, 0, 123456, tzinfo=timezone.utc)),
        ("2026-02-28T12:00:00.12+02:00", datetime(2026, 2, 28, 10, 0, 0, 120000, tzinfo=timezone.utc)),
        ("20260228T120000Z", datetime(2026, 2, 28, 12, tzinfo=timezone.utc)),
        ("2026-02-28T12:00", datetime(2026, 2, 28, 12, tzinfo=timezone.utc)),
    ],
)
def test_every_iso_8601_timestamp_is_read_on_every_python(text, expected):
    """Python 3.10's fromisoformat reads none of these but the last: the same moments on 3.10 to 3.13."""
    assert timestamp(text) == expected


@pytest.mark.parametrize("expiration", ["soon", "", None, 1234567890, "2026-13-40"])
def test_an_expiration_that_is_not_a_timestamp_is_ignored(expiration):
    assert never_completes(participant(expiration=expiration), NOW) is None


def test_a_completed_participation_is_never_reported_as_never_completing():
    done = participant(5, 5, inError=True, expiration=(NOW - timedelta(days=9)).isoformat())
    assert never_completes(done, NOW) is None


def test_project_progress_counts_activated_participants_only():
    expired = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    participants = [
        participant(5, 5, activated=True),
        participant(4, 5, activated=True),
        participant(2, 5, activated=True, inError=True),
        participant(0, 5, activated=True, expiration=expired),
        participant(5, 5, activated=False),  # not activated: outside the population
        participant(0, 5),
    ]

    progress = project_progress(participants)

    assert progress == ProjectProgress(participants=6, activated=4, completed=1, never_completing=2)
    assert progress.share == 0.25
    assert str(progress) == (
        "1 of 4 activated participant(s) completed (25%); 2 can never complete (in error or expired)"
    )
    assert project_progress(participants, min_share=0.8).completed == 2


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"activated": True}, True),
        ({"activated": False}, False),
        # The flag says it when it is there.
        ({"activated": False, "firstActivation": "2026-01-05T09:00:00Z", "accessLink": "https://l/1"}, False),
        # Left out: an activation time, or the access link (null while not activated), says it.
        ({"firstActivation": "2026-01-05T09:00:00Z"}, True),
        ({"activated": None, "lastActivation": 1772359200}, True),
        ({"accessLink": "https://learn.example.com/access/1"}, True),
        # Nothing that says it: unknown, never activated.
        ({}, None),
        ({"activated": None, "firstActivation": None, "lastActivation": " ", "accessLink": ""}, None),
        ({"activated": "true"}, None),
        ({"lastActivation": 0, "accessLink": 17}, None),
    ],
)
def test_activation_is_the_flag_else_an_activation_time_or_the_access_link(fields, expected):
    assert activation_state(participant(5, 5, **fields)) is expected
    # A project's progress counts by the same rule.
    assert project_progress([participant(5, 5, **fields)]).activated == (expected is True)


def test_a_project_without_activated_participants_has_a_share_of_zero():
    progress = project_progress([participant(5, 5)])

    assert (progress.activated, progress.share) == (0, 0.0)
    assert progress.to_dict() == {
        "participants": 1,
        "activated": 0,
        "completed": 0,
        "never_completing": 0,
        "unreadable": 0,
        "share": 0.0,
    }
    assert str(progress) == "0 of 0 activated participant(s) completed (0%)"


@given(st.integers(-10, 1000), st.integers(-10, 1000), st.floats(0.01, 1.0))
def test_the_share_is_a_fraction_and_completion_agrees_with_it(completed, total, min_share):
    person = participant(completed, total)
    share = completion_share(person)
    assert 0.0 <= share <= 1.0
    assert is_completed(person, min_share) == (total > 0 and share >= min_share)
    # The report reads each count once and computes from the numbers: the same answers.
    assert share_of(completed, total) == share
    assert completed_share(completed, total, min_share) == is_completed(person, min_share)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.booleans()), max_size=30))
def test_project_counts_are_nested(rows):
    people = [
        participant(done, 5, activated=activated, inError=in_error) for activated, done, in_error in rows
    ]
    progress = project_progress(people)
    assert progress.participants == len(rows)
    assert progress.completed + progress.never_completing <= progress.activated <= progress.participants


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00.000Z"),
        ("2026-03-01T10:00:00.5+01:00", "2026-03-01T09:00:00.500Z"),
        ("2026-03-01T10:00:00.123456-05:30", "2026-03-01T15:30:00.123Z"),
        ("2026-03-01T10:00:00", "2026-03-01T10:00:00.000Z"),
        ("2026-03-01 10:00:00", "2026-03-01T10:00:00.000Z"),
        ("2026-03-01", "2026-03-01T00:00:00.000Z"),
        (1772359200, "2026-03-01T10:00:00.000Z"),
        (1772359200123, "2026-03-01T10:00:00.123Z"),
        ("1772359200123", "2026-03-01T10:00:00.123Z"),
        ("20260301", "2026-03-01T00:00:00.000Z"),
        ("20260301T100000Z", "2026-03-01T10:00:00.000Z"),
        ("20260301T120000+0200", "2026-03-01T10:00:00.000Z"),
    ],
)
def test_utc_iso(value, expected):
    assert utc_iso(value) == expected


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-13-01", "2026-02-30T10:00:00Z", "9999-12-31T23:59:59-05:00", 10**20, True, [1]],
)
def test_utc_iso_refuses_what_is_not_a_timestamp(value):
    with pytest.raises(ValueError, match="timestamp"):
        utc_iso(value, field="lastAccess")
