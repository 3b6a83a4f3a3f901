"""Completion checks, each one look at the simulator over HTTPS through the synchronous hook."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.completion import (
    CompletionCheck,
    ParticipantCompletionCheck,
    ProjectCompletionCheck,
    check_project_naming,
    rebuild_check,
)
from airflow_provider_learnifier.exceptions import LearnifierNeverCompletesError, LearnifierNotFoundError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from tests.completion_helpers import (
    ACTIVITIES,
    ORG_ID,
    PARTICIPANTS_PATH,
    PROJECT_EXTERNAL_ID,
    PROJECT_ID,
    enroll,
)
from tests.operators.variants import rewrite_responses


@pytest.fixture
def hook(learnifier_conn):
    with LearnifierHook() as hook:
        yield hook


# --------------------------------------------------------------------------------------------- naming


@pytest.mark.parametrize(
    ("names", "description"),
    [
        ({"participation_external_id": "person-0"}, "participation 'person-0'"),
        (
            {"participant_id": 7, "org_id": 1, "project_id": 2},
            "participant 7 of project 2 (organization unit 1)",
        ),
        ({"participant_id": "7", "project_external_id": "onb"}, "participant 7 of project 'onb'"),
    ],
)
def test_a_participant_is_named_one_way(names, description):
    assert ParticipantCompletionCheck(**names).describe() == description


@pytest.mark.parametrize(
    "names",
    [
        {},
        {"participant_id": 3001},
        {"participant_id": 3001, "org_id": ORG_ID},
        {"participant_id": 3001, "org_id": ORG_ID, "project_id": PROJECT_ID, "project_external_id": "x"},
        {"participation_external_id": "p", "participant_id": 3001},
        {"participation_external_id": "p", "project_external_id": "x"},
        {"org_id": ORG_ID, "project_id": PROJECT_ID},
    ],
)
def test_a_participant_named_no_way_or_two_ways_is_refused(names):
    with pytest.raises(ValueError, match="name the participant either by participation_external_id alone"):
        ParticipantCompletionCheck(**names)


@pytest.mark.parametrize(
    "names",
    [
        {"org_id": ORG_ID},
        {"project_id": PROJECT_ID},
        {},
        {"org_id": 1, "project_id": 2, "project_external_id": "x"},
    ],
)
def test_a_project_named_no_way_or_two_ways_is_refused(names):
    with pytest.raises(ValueError, match="name the project either by org_id and project_id"):
        check_project_naming(**({"org_id": None, "project_id": None, "project_external_id": None} | names))


@pytest.mark.parametrize("share", [0, 1.5, "half", None, True])
def test_thresholds_out_of_range_are_refused_when_the_check_is_made(share):
    with pytest.raises(ValueError, match="min_share must be a fraction"):
        ParticipantCompletionCheck(participation_external_id="p", min_share=share)
    with pytest.raises(ValueError, match="min_completed_share must be a fraction"):
        ProjectCompletionCheck(project_external_id="x", min_completed_share=share)


def test_count_never_completing_must_be_a_boolean():
    with pytest.raises(ValueError, match="count_never_completing must be True or False, not 'False'"):
        ProjectCompletionCheck(project_external_id="x", count_never_completing="False")


def test_a_project_check_describes_its_project():
    assert ProjectCompletionCheck(org_id=1, project_id=2).describe() == "project 2 (organization unit 1)"
    assert ProjectCompletionCheck(project_external_id="onb").describe() == "project 'onb'"


# --------------------------------------------------------------------------------- participant checks


def test_a_participant_is_done_once_every_activity_is_completed(learnifier_conn, hook):
    (participant_id,) = enroll(1)
    check = ParticipantCompletionCheck(participant_id=participant_id, org_id=ORG_ID, project_id=PROJECT_ID)

    before = check(hook)
    learnifier_conn.advance_progress(participant_id=participant_id, activities=ACTIVITIES - 1)
    almost = check(hook)
    learnifier_conn.advance_progress(participant_id=participant_id)
    after = check(hook)

    assert not before.done
    assert before.message == f"0 of {ACTIVITIES} activities completed (0%); needs all of them"
    assert not almost.done
    assert after.done
    assert after.message == f"{ACTIVITIES} of {ACTIVITIES} activities completed (100%); needs all of them"
    assert str(after.progress["participant_id"]) == participant_id
    assert after.progress["activities_completed"] == after.progress["activities_total"] == ACTIVITIES
    assert after.progress["completed"] is True


def test_a_participant_check_with_a_share_is_done_at_that_share(learnifier_conn, hook):
    (participant_id,) = enroll(1)
    check = ParticipantCompletionCheck(participation_external_id="person-0", min_share=0.4)

    assert not check(hook).done
    learnifier_conn.advance_progress(participant_id=participant_id, activities=2)
    status = check(hook)

    assert status.done
    assert status.message == f"2 of {ACTIVITIES} activities completed (40%); needs 40%"


def test_a_project_named_by_external_id_is_resolved_once_and_remembered(learnifier_conn, hook):
    (participant_id,) = enroll(1)
    check = ParticipantCompletionCheck(participant_id=participant_id, project_external_id=PROJECT_EXTERNAL_ID)

    check(hook)
    learnifier_conn.clear_exchanges()
    check(hook)

    assert (str(check.org_id), str(check.project_id)) == (str(ORG_ID), str(PROJECT_ID))
    assert [exchange.path for exchange in learnifier_conn.exchanges] == [
        f"/orgunits/{ORG_ID}/projects/{PROJECT_ID}/participants"
    ]


def test_a_participant_not_in_the_project_is_not_found(learnifier_conn, hook):
    enroll(1)
    check = ParticipantCompletionCheck(participant_id="no-such-person", org_id=ORG_ID, project_id=PROJECT_ID)

    with pytest.raises(LearnifierNotFoundError, match="has no participant no-such-person"):
        check(hook)


def test_a_participation_in_error_fails_the_check_with_the_reason(learnifier_conn, hook):
    (participant_id,) = enroll(1)
    learnifier_conn.set_participant_error(participant_id, "The user has no licence")
    check = ParticipantCompletionCheck(participation_external_id="person-0")

    with pytest.raises(LearnifierNeverCompletesError) as never:
        check(hook)

    assert "participation 'person-0' can never complete" in str(never.value)
    assert "The user has no licence" in str(never.value)


def test_an_in_error_flag_that_is_no_boolean_does_not_fail_the_check(learnifier_conn, hook, monkeypatch):
    enroll(1)

    def error_flag_as_text(request, response):
        # Outside the spec (a boolean): "false" is truthy, and once failed the sensor for good.
        if request.method != "GET" or request.path != "/extparticipation":
            return response
        return type(response).json(
            response.status, json.loads(response.body) | {"inError": "false"}, response.headers
        )

    rewrite_responses(learnifier_conn, monkeypatch, error_flag_as_text)
    check = ParticipantCompletionCheck(participation_external_id="person-0")

    status = check(hook)

    assert not status.done
    assert status.progress["in_error"] is False


# ------------------------------------------------------------------------------------- project checks


def test_a_project_without_activated_participants_is_never_done(learnifier_conn, hook):
    enroll(2, activated=False)
    status = ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID, min_completed_share=0.1)(hook)

    assert not status.done
    assert status.message.endswith("(no activated participants yet)")
    assert status.progress["activated"] == 0


def test_a_project_whose_listing_leaves_activated_out_counts_the_activated_by_their_times(
    learnifier_conn, hook, monkeypatch
):
    enroll(2)
    enroll(1, activated=False, prefix="later")

    def without_the_flag(request, response):
        # Spec-legal: every member of a Participation is optional.
        if request.method != "GET" or request.path != PARTICIPANTS_PATH:
            return response
        items = json.loads(response.body)
        for item in items:
            item.pop("activated", None)
        return type(response).json(response.status, items, response.headers)

    rewrite_responses(learnifier_conn, monkeypatch, without_the_flag)
    learnifier_conn.advance_progress(project_id=PROJECT_ID, complete=True)
    status = ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID)(hook)

    assert status.done, status.message
    assert status.progress["activated"] == 2 and status.progress["participants"] == 3


def test_a_project_is_done_at_its_completed_share(learnifier_conn, hook):
    first, _second = enroll(2)
    check = ProjectCompletionCheck(project_external_id=PROJECT_EXTERNAL_ID, min_completed_share=0.5)

    before = check(hook)
    learnifier_conn.advance_progress(participant_id=first, complete=True)
    after = check(hook)

    assert not before.done
    assert after.done
    assert after.message == "1 of 2 activated participant(s) completed (50%); needs 50%"
    progress = after.progress
    assert (str(progress.pop("org_id")), str(progress.pop("project_id"))) == (str(ORG_ID), str(PROJECT_ID))
    assert progress == {
        "project_external_id": PROJECT_EXTERNAL_ID,
        "participants": 2,
        "activated": 2,
        "completed": 1,
        "never_completing": 0,
        "unreadable": 0,
        "share": 0.5,
        "min_completed_share": 0.5,
        "min_share": 1.0,
        "count_never_completing": True,
        "done": True,
    }


def test_participants_who_never_complete_can_be_left_out_of_the_share(learnifier_conn, hook):
    first, second = enroll(2)
    learnifier_conn.advance_progress(participant_id=first, complete=True)
    learnifier_conn.set_participant_error(second, "No licence")

    counted = ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID)(hook)
    left_out = ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID, count_never_completing=False)(
        hook
    )

    assert not counted.done  # 1 of 2: the one in error keeps the project short of all
    assert "1 can never complete" in counted.message
    assert left_out.done  # 1 of the 1 who still can
    assert left_out.message.endswith("needs all of them, of the 1 who still can")


def test_a_participant_share_applies_to_each_participant_of_a_project(learnifier_conn, hook):
    first, second = enroll(2)
    learnifier_conn.advance_progress(participant_id=first, activities=3)
    learnifier_conn.advance_progress(participant_id=second, activities=2)

    status = ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID, min_share=0.6)(hook)

    assert not status.done
    assert status.progress["completed"] == 1
    assert status.message.endswith("needs all of them, each with 60% of the activities")


# --------------------------------------------------------------------------------------------- serialization


IDS = st.one_of(st.integers(min_value=0, max_value=10**12), st.text(min_size=1, max_size=12))
SHARES = st.floats(min_value=0.01, max_value=1.0)


@st.composite
def checks(draw: st.DrawFn) -> CompletionCheck:
    """Any completion check the provider's sensors may make, with any valid arguments."""
    if draw(st.booleans()):
        names = draw(
            st.one_of(
                st.fixed_dictionaries({"org_id": IDS, "project_id": IDS}),
                st.fixed_dictionaries({"project_external_id": st.text(min_size=1, max_size=12)}),
            )
        )
        return ProjectCompletionCheck(
            **names,
            min_completed_share=draw(SHARES),
            min_share=draw(SHARES),
            count_never_completing=draw(st.booleans()),
        )
    names = draw(
        st.one_of(
            st.fixed_dictionaries({"participation_external_id": st.text(min_size=1, max_size=12)}),
            st.fixed_dictionaries({"participant_id": IDS, "org_id": IDS, "project_id": IDS}),
            st.fixed_dictionaries(
                {"participant_id": IDS, "project_external_id": st.text(min_size=1, max_size=9)}
            ),
        )
    )
    return ParticipantCompletionCheck(
        **names, min_share=draw(SHARES), on_never_completing=draw(st.sampled_from(["fail", "succeed"]))
    )


@given(checks())
def test_a_check_serialized_and_rebuilt_is_the_same_check(check):
    classpath, kwargs = check.serialize()

    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = rebuild_check(classpath, json.loads(json.dumps(kwargs)))
    assert type(rebuilt) is type(check)
    assert rebuilt == check
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.describe() == check.describe()


def test_a_check_serializes_the_arguments_it_was_given_not_what_it_resolved(hook):
    enroll(1)
    check = ProjectCompletionCheck(project_external_id=PROJECT_EXTERNAL_ID, min_share="0.5")

    check(hook)

    assert (check.org_id, check.project_id) == (ORG_ID, PROJECT_ID)
    assert check.serialize() == (
        "airflow_provider_learnifier.completion.ProjectCompletionCheck",
        {
            "org_id": None,
            "project_id": None,
            "project_external_id": PROJECT_EXTERNAL_ID,
            "min_completed_share": 1.0,
            "min_share": 0.5,
            "count_never_completing": True,
        },
    )
    assert rebuild_check(*check.serialize()) == check


def test_checks_differ_by_class_and_by_arguments():
    project = ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID)
    assert project == ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID, min_share=1)
    assert project != ProjectCompletionCheck(org_id=ORG_ID, project_id=PROJECT_ID, min_share=0.5)
    assert project != ParticipantCompletionCheck(participation_external_id="x")


class _LookalikeCheck(ProjectCompletionCheck):
    """A subclass of one of the provider's checks, which is not one of them."""


@pytest.mark.parametrize(
    "classpath",
    [
        "os.system",
        "builtins.eval",
        "tests.never_imported_module.Check",
        f"{__name__}._LookalikeCheck",
        "airflow_provider_learnifier.completion.CompletionCheck",
        "airflow_provider_learnifier.completion.share_threshold",
        None,
        ["airflow_provider_learnifier.completion.ProjectCompletionCheck"],
    ],
)
def test_a_class_path_that_is_not_one_of_the_provider_s_checks_is_refused_unimported(classpath):
    with pytest.raises(ValueError, match="refusing to rebuild a completion check of class"):
        rebuild_check(classpath, {"org_id": ORG_ID, "project_id": PROJECT_ID})
    assert "tests.never_imported_module" not in sys.modules


@pytest.mark.parametrize("kwargs", [["org_id"], "org_id=1", {1: "x"}])
def test_arguments_that_are_no_keyword_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match="are not keyword arguments"):
        rebuild_check("airflow_provider_learnifier.completion.ProjectCompletionCheck", kwargs)


def test_arguments_a_check_refuses_are_refused_when_rebuilt():
    with pytest.raises(ValueError, match="name the project either"):
        rebuild_check("airflow_provider_learnifier.completion.ProjectCompletionCheck", {"org_id": ORG_ID})
