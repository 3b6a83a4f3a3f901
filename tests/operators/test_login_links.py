"""The login link operator against the simulator: a link never leaves the task, a lost one is replaced."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest

from airflow_provider_learnifier.exceptions import LearnifierBulkOperationError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.participants import LearnifierLoginLinkOperator
from learnifier_simulator import seed

ORG = seed.DEMO_ORG_UNIT_ID
PROJECT = seed.DEMO_PROJECT_ID


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


@pytest.fixture
def activated(learnifier_conn: Any) -> list[str]:
    """Three activated participants of the demo project."""
    ids = []
    with LearnifierHook() as hook:
        for n in range(3):
            participant_id = hook.add_participant(ORG, PROJECT, email=f"link{n}@example.com")
            assert participant_id is not None
            hook.activate_participant(ORG, PROJECT, participant_id)
            ids.append(participant_id)
    return ids


def _links_made(sim: Any) -> list[str]:
    return [
        e.response_json()["link"] for e in sim.exchanges if e.path.endswith("/loginlink") and e.status == 200
    ]


def test_a_link_quoted_by_a_failing_on_link_is_redacted_from_the_result_and_the_error(
    learnifier_conn, activated, caplog, capsys
):
    """A login link is a credential: neither the result (XCom) nor the exception may carry it."""
    sim = learnifier_conn
    quotes = {
        activated[0]: lambda link: f"could not mail {link}",
        activated[1]: lambda link: f"bad token {urlsplit(link).path.rsplit('/', 1)[-1]}",
        activated[2]: lambda link: f"rejected {quote(link, safe='')}",
    }

    def on_link(participant_id: str, link: str) -> None:
        raise ValueError(quotes[participant_id](link))

    operator = LearnifierLoginLinkOperator(
        task_id="links", participant_ids=activated, org_id=ORG, project_id=PROJECT, on_link=on_link
    )
    with pytest.raises(LearnifierBulkOperationError) as failed:
        operator.execute(_context())

    links = _links_made(sim)
    assert len(links) == 3
    logs = caplog.text + capsys.readouterr().out  # the task logger prints on Airflow 3
    left = json.dumps(failed.value.failures) + json.dumps(failed.value.summary) + str(failed.value) + logs
    for link in links:
        assert link not in left
        assert urlsplit(link).path.rsplit("/", 1)[-1] not in left
        assert quote(link, safe="") not in left
    reasons = [failure["reason"] for failure in failed.value.summary["failed"]]
    assert reasons == [
        "on_link failed: ValueError: could not mail <login link redacted>",
        "on_link failed: ValueError: bad token <login link redacted>",
        "on_link failed: ValueError: rejected <login link redacted>",
    ]


def test_a_link_whose_answer_was_lost_or_500_is_replaced_by_a_new_one(learnifier_conn, activated):
    """Before, a 500 failed the participant (only a lost connection was retried)."""
    sim = learnifier_conn
    path = f"/orgunits/{ORG}/projects/{PROJECT}/participants/{activated[0]}/loginlink"
    sim.inject(status=500, method="POST", path=path)
    sim.inject(drop="after", method="POST", path=path.replace(activated[0], activated[1]))
    delivered: dict[str, str] = {}

    result = LearnifierLoginLinkOperator(
        task_id="links",
        participant_ids=activated[:2],
        org_id=ORG,
        project_id=PROJECT,
        on_link=delivered.__setitem__,
    ).execute(_context())

    assert (result["participant_ids"], result["failed"]) == (activated[:2], [])
    made = [e for e in sim.exchanges if e.path.endswith("/loginlink")]
    assert len(made) == 4
    assert sorted(delivered.values()) == sorted(_links_made(sim))  # the last link of each, usable
