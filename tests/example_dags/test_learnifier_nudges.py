"""The nudges example: reminders by mail to a real SMTP server on loopback, once, and the at-risk page."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.reporting import STATES_COLUMN
from learnifier_simulator import seed
from tests.example_dags.conftest import AIRFLOW3_ONLY, read_csv, task_states, xcom
from tests.smtp import running_sink
from tests.state_model import model_states

pytestmark = AIRFLOW3_ONLY

DAG_ID = "learnifier_nudges"
#: The example's selector: its states and their days.
DAYS = {"not_started": 7, "expiring": 14}


@pytest.fixture
def smtp(monkeypatch):
    with running_sink() as (sink, connection):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", connection)
        yield sink


@pytest.fixture
def account(learnifier_conn) -> dict[str, Any]:
    """A second course of the demo org unit; people who never started, who are expiring, and neither."""
    sim = learnifier_conn
    now = sim.now()
    org = seed.DEMO_ORG_UNIT_ID
    with LearnifierHook() as hook:
        security = hook.create_project(
            org, name="Security 2026", design_id=seed.SECURITY_AWARENESS_DESIGN_ID, external_id="sec-2026"
        )
        onboarding = hook.get_project(org, seed.DEMO_PROJECT_ID)

        def enroll(project: dict[str, Any], email: str, **times: Any) -> str:
            participant = hook.add_participant(project["orgId"], project["id"], email=email)
            assert participant is not None
            hook.activate_participant(project["orgId"], project["id"], participant)
            if times:
                sim.set_participant_times(participant, **times)
            return participant

        long_ago = now - timedelta(days=10)
        enroll(security, "ann@example.com", firstActivation=long_ago, lastActivation=long_ago)
        enroll(onboarding, "ben@example.com", firstActivation=long_ago, lastActivation=long_ago)
        enroll(security, "cid@example.com")  # activated today: not yet "not started"
        expiring = enroll(security, "dee@example.com")
        sim.advance_progress(participant_id=expiring, activities=1)
        sim.set_participant_times(expiring, expiration=now + timedelta(days=5))
        done = enroll(onboarding, "eve@example.com", firstActivation=long_ago)
        sim.advance_progress(participant_id=done, complete=True)
    return {"org_id": org, "as_of": now}


def expected_recipients(sim) -> dict[str, set[str]]:
    """Each person to remind and their states, by the independent model (tests/state_model.py)."""
    snapshot = sim.state.snapshot()
    emails = {user["id"]: user.get("primaryEmail") for user in snapshot["users"]}
    org_projects = {p["id"] for p in snapshot["projects"] if p["orgId"] == seed.DEMO_ORG_UNIT_ID}
    expected: dict[str, set[str]] = {}
    as_of = sim.now()
    for participation in snapshot["participants"]:
        if participation["projectId"] in org_projects:
            states = model_states(participation, as_of, DAYS)
            if states:
                expected.setdefault(emails[participation["userId"]], set()).update(states)
    return expected


class Links(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def test_the_example_mails_each_person_once_and_writes_the_page(
    account, learnifier_conn, smtp, run_example_dag, tmp_path
):
    expected = expected_recipients(learnifier_conn)
    assert set(expected) == {"ann@example.com", "ben@example.com", "dee@example.com"}
    conf = {"report_dir": str(tmp_path / "reports"), "ledger_dir": str(tmp_path / "ledger")}

    first = run_example_dag(DAG_ID, conf)

    assert task_states(first) == {"nudge": "success", "at_risk_page": "success"}
    assert sorted(smtp.recipients()) == sorted(expected)
    for mail in smtp.mails:
        links = Links(mail.html).hrefs
        assert links and all("/access/" in link and "loginlink" not in link for link in links), mail.html
    assert xcom(first, "nudge")["sent"] == len(expected)
    # The page and its report: every participant with their states, the people at risk listed.
    summary = xcom(first, "at_risk_page")
    page = Path(summary["html_path"])
    assert page.parent == tmp_path / "reports" and page.name.startswith("learnifier-at-risk-")
    rows = read_csv(summary["path"])
    at_risk = {row["user_email"] for row in rows if row[STATES_COLUMN]}
    assert at_risk == set(expected)
    markup = page.read_text(encoding="utf-8")
    assert all(email in markup for email in expected)

    # Another run (a rerun, a retry, the next day) reminds nobody again: each milestone was mailed.
    second = run_example_dag(DAG_ID, conf)

    assert task_states(second) == {"nudge": "success", "at_risk_page": "success"}
    assert sorted(smtp.recipients()) == sorted(expected)
    assert xcom(second, "nudge")["sent"] == 0
