"""Activation by the enrollment engine when Learnifier does not say whether a participant is activated.

The spec lets a participant listing leave ``activated`` out (the simulator's ``drop_optional``
variant does so at random). A second activation renews access and may mail the person again, so
the engine of :class:`~airflow_provider_learnifier.operators.participants.LearnifierEnrollOperator`
and of :class:`~airflow_provider_learnifier.operators.policy.LearnifierPolicyApplyOperator` reads
the user's participations before activating such a participant, and activates nobody it still
cannot tell about: it names them in ``activation_unknown``. Here a seam drops the members
deterministically; the last test takes the simulator's own random variant over many seeds.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from airflow_provider_learnifier.operators.policy import (
    LearnifierPolicyApplyOperator,
    LearnifierPolicyPlanOperator,
)
from learnifier_simulator import seed
from learnifier_simulator.variants import SpecVariants
from tests.operators.variants import rewrite_responses

if TYPE_CHECKING:
    from learnifier_simulator.dispatch import HttpRequest
    from learnifier_simulator.messages import ApiResponse

PROJECT = seed.DEMO_PROJECT_ID
#: What says that a participation is activated: the flag, its timestamps, its access link.
ACTIVATION_MEMBERS = ("activated", "firstActivation", "lastActivation", "accessLink")
LISTING = "/participants"
PARTICIPATIONS = "/projectParticipations"


def roster(*names: str) -> list[dict[str, str]]:
    return [{"email": f"{name}@example.com", "external_id": name} for name in names]


def enroll(people: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
    operator = LearnifierEnrollOperator(
        task_id="enroll", roster=people, project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID, **kwargs
    )
    return operator.execute({"ti": mock.MagicMock()})


def activations(sim: Any) -> Counter[str]:
    """How many activations each participant was sent (answered or not)."""
    return Counter(e.path for e in sim.exchanges if e.method == "POST" and e.path.endswith("/activate"))


def reads(sim: Any, suffix: str) -> int:
    return sum(1 for e in sim.exchanges if e.method == "GET" and e.path.endswith(suffix))


def activated_in_state(sim: Any) -> dict[str, bool]:
    """Per participant user's email: whether it is activated, as the simulator's state has it."""
    snapshot = sim.state.snapshot()
    emails = {u["id"]: u.get("primaryEmail") for u in snapshot["users"]}
    return {
        emails[p["userId"]]: p["activated"] for p in snapshot["participants"] if p["projectId"] == PROJECT
    }


def drop_activation(
    sim: Any, monkeypatch: pytest.MonkeyPatch, *, members: tuple[str, ...], where: tuple[str, ...]
) -> None:
    """Have every participation in answers to GETs ending in ``where`` lack ``members`` (spec-legal)."""

    def rewrite(request: HttpRequest, response: ApiResponse) -> ApiResponse:
        if request.method != "GET" or not request.path.endswith(where) or not response.body:
            return response
        items = json.loads(response.body)
        for item in items:
            for member in members:
                item.pop(member, None)
        return type(response).json(response.status, items, response.headers)

    rewrite_responses(sim, monkeypatch, rewrite)


@pytest.fixture
def sim(learnifier_conn: Any) -> Any:
    """The simulator; ``ada`` and ``bo`` enrolled and activated, ``cy`` and ``di`` enrolled, not activated."""
    with LearnifierHook() as hook:
        for name in ("ada", "bo", "cy", "di"):
            user_id = hook.create_user(primary_email=f"{name}@example.com", external_id=name)
            participant_id = hook.add_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, user_id=user_id)
            if name in ("ada", "bo"):
                hook.activate_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, participant_id)
    learnifier_conn.clear_exchanges()
    return learnifier_conn


# ---------------------------------------------------------------------- the enroll operator


def test_a_rerun_sends_no_second_activation_when_the_listing_leaves_activated_out(sim, monkeypatch):
    drop_activation(sim, monkeypatch, members=ACTIVATION_MEMBERS, where=(LISTING,))

    result = enroll(roster("ada", "bo", "cy", "di", "eve"))

    assert sorted(result["activated"]) == ["cy", "di", "eve"]
    assert result["activation_unknown"] == []
    assert all(count == 1 for count in activations(sim).values())
    assert len(activations(sim)) == 3, "ada and bo, already activated, were sent an activation"
    assert set(activated_in_state(sim).values()) == {True}
    # The participations of the four enrolled before were read; eve was added by this run.
    assert reads(sim, PARTICIPATIONS) == 4

    sim.clear_exchanges()
    rerun = enroll(roster("ada", "bo", "cy", "di", "eve"))

    assert rerun["activated"] == [] and rerun["activation_unknown"] == []
    assert activations(sim) == Counter()


@pytest.mark.parametrize(
    "dropped",
    [("activated",), ("activated", "accessLink"), ("activated", "firstActivation", "lastActivation")],
    ids=["timestamps and link left", "timestamps left", "access link left"],
)
def test_activation_timestamps_or_an_access_link_in_the_listing_mean_activated(sim, monkeypatch, dropped):
    drop_activation(sim, monkeypatch, members=dropped, where=(LISTING,))

    result = enroll(roster("ada", "bo"))

    assert result["activated"] == [] and result["already_enrolled"] == ["ada", "bo"]
    assert activations(sim) == Counter()
    assert reads(sim, PARTICIPATIONS) == 0, "the listing says it all"


def test_nobody_is_activated_blindly_when_no_answer_says(sim, monkeypatch, caplog, capsys):
    drop_activation(sim, monkeypatch, members=ACTIVATION_MEMBERS, where=(LISTING, PARTICIPATIONS))

    with caplog.at_level(logging.WARNING):
        result = enroll(roster("ada", "cy", "eve"))
    # The task logger prints on Airflow 3; on Airflow 2 it propagates to caplog and prints too.
    logs = caplog.text if "Not activating" in caplog.text else capsys.readouterr().out

    # eve was added by this run, so she is known not to be activated; ada and cy are unknown.
    assert result["activated"] == ["eve"]
    assert result["activation_unknown"] == ["ada", "cy"]
    assert result["counts"]["activation_unknown"] == 2 and result["failed"] == []
    assert len(activations(sim)) == 1
    assert logs.count("Not activating") == 2
    assert "Not activating ada (participant" in logs and "Not activating cy (participant" in logs
    assert activated_in_state(sim)["cy@example.com"] is False


def test_a_dry_run_reads_the_participation_and_reports_what_a_run_would_do(sim, monkeypatch):
    drop_activation(sim, monkeypatch, members=ACTIVATION_MEMBERS, where=(LISTING,))

    result = enroll(roster("ada", "cy"), dry_run=True)

    assert result["activated"] == ["cy"] and result["activation_unknown"] == []
    assert activations(sim) == Counter()
    assert activated_in_state(sim)["cy@example.com"] is False


@pytest.mark.parametrize("variant_seed", range(12))
def test_no_second_activation_against_the_random_drop_optional_variant(sim, variant_seed):
    people = roster("ada", "bo", "cy", "di", "eve", "fay")
    enroll(people)
    sim.variants = SpecVariants(seed=variant_seed, drop_optional=True, shuffle=True, id_types=True)
    sim.clear_exchanges()

    result = enroll(people)
    again = enroll(people)

    assert activations(sim) == Counter()
    assert result["activated"] == again["activated"] == []


# ---------------------------------------------------------------------- the policy


POLICY = {"version": 1, "courses": [{"project_external_id": seed.DEMO_PROJECT_EXTERNAL_ID, "who": "all"}]}


def policy_run(operator_class: type, people: list[dict[str, str]]) -> dict[str, Any]:
    operator = operator_class(task_id="policy", policy=POLICY, roster=people, reference_date="2026-06-01")
    return operator.execute({"ti": mock.MagicMock()})


def test_a_plan_counts_what_its_apply_does_when_the_listing_leaves_activated_out(sim, monkeypatch):
    drop_activation(sim, monkeypatch, members=ACTIVATION_MEMBERS, where=(LISTING,))
    people = roster("ada", "bo", "cy", "di")

    plan = policy_run(LearnifierPolicyPlanOperator, people)
    (planned,) = plan["courses"]
    assert planned["counts"] == {"add": 0, "activate": 2, "remove": 0, "keep": 2}
    assert "activation_unknown" not in planned

    result = policy_run(LearnifierPolicyApplyOperator, people)
    (applied,) = result["courses"]
    assert applied["counts"] == planned["counts"]
    assert len(activations(sim)) == 2 and all(count == 1 for count in activations(sim).values())
    assert set(activated_in_state(sim).values()) == {True}

    sim.clear_exchanges()
    (rerun,) = policy_run(LearnifierPolicyApplyOperator, people)["courses"]
    assert rerun["counts"] == {"add": 0, "activate": 0, "remove": 0, "keep": 4}
    assert activations(sim) == Counter()


def test_a_plan_and_its_apply_keep_and_name_whom_no_answer_says_is_activated(sim, monkeypatch):
    drop_activation(sim, monkeypatch, members=ACTIVATION_MEMBERS, where=(LISTING, PARTICIPATIONS))
    people = roster("ada", "cy", "eve")

    (planned,) = policy_run(LearnifierPolicyPlanOperator, people)["courses"]
    assert planned["counts"] == {"add": 1, "activate": 0, "remove": 0, "keep": 2}
    assert planned["activation_unknown"] == 2

    result = policy_run(LearnifierPolicyApplyOperator, people)
    (applied,) = result["courses"]
    assert applied["counts"] == planned["counts"]
    assert applied["activation_unknown"] == 2
    assert applied["activation_unknown_people"] == ["ada", "cy"]
    assert result["failed"] == 0
    assert len(activations(sim)) == 1, "only eve, whom the apply added, is activated"
