"""The progress report's states column and its at-risk page, opened in a real headless Chromium.

The report runs against the simulator, its participants' times set relative to the run's logical
date. The states column is checked against the independent model of tests/state_model.py; the
page, opened from its folder (``file://``) at a desktop's and a phone's width, is checked against
the CSV: per course the completion, the counts per state in the table and in the chart's bars
(their drawn lengths too), the people at risk; and that it made no request but its own document.
A loopback HTTP server stands where hostile names point, and must see nothing.

Screenshots of both widths go to the test's ``tmp_path``, kept in ``.pytest-tmp`` when it fails.
"""

from __future__ import annotations

import csv
import http.server
import json
import os
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_learnifier.exceptions import LearnifierParticipantDataError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.reporting import (
    COLUMNS,
    STATES_COLUMN,
    LearnifierProgressReportOperator,
)
from learnifier_simulator import seed
from tests.browser import chromium, chromium_or_skip
from tests.state_model import model_states

AT_RISK = {"not_started", "stalled", "expiring", "in_error", "overdue"}
DAYS = {"not_started": 7, "stalled": 14, "expiring": 14, "in_error": 0, "completed": 0}


class Sentinel:
    """A loopback HTTP server that records every request: where hostile markup points."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        sentinel = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sentinel.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    server = Sentinel()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def account(learnifier_conn, sentinel) -> dict[str, Any]:
    """Three courses of the demo org unit: people in every state, hostile text, and an empty course."""
    sim = learnifier_conn
    now = sim.now()
    org = seed.DEMO_ORG_UNIT_ID
    with LearnifierHook() as hook:
        security = hook.create_project(
            org, name="Security 2026", design_id=seed.SECURITY_AWARENESS_DESIGN_ID, external_id="sec-2026"
        )
        hostile = hook.create_project(
            org,
            name=f'Conduct <script>fetch("{sentinel.url}/script")</script> & "quotes" \u202eevil',
            design_id=seed.CODE_OF_CONDUCT_DESIGN_ID,
            external_id=f'"><img src={sentinel.url}/external-id>',
        )
        empty = hook.create_project(org, name="Empty course", design_id=seed.CODE_OF_CONDUCT_DESIGN_ID)

        def enroll(project: dict[str, Any], email: str, activate: bool = True, **times: Any) -> str:
            participant = hook.add_participant(project["orgId"], project["id"], email=email)
            assert participant is not None
            if activate:
                hook.activate_participant(project["orgId"], project["id"], participant)
            if times:
                sim.set_participant_times(participant, **times)
            return participant

        for project in (security, hostile):
            tag = project["id"]
            enroll(project, f"new-{tag}@example.com", firstActivation=now - timedelta(days=10))
            enroll(project, f"recent-{tag}@example.com", firstActivation=now - timedelta(days=2))
            stalled = enroll(project, f"stalled-{tag}@example.com")
            sim.advance_progress(participant_id=stalled, activities=1)
            sim.set_participant_times(stalled, lastAccess=now - timedelta(days=20))
            expiring = enroll(project, f"expiring-{tag}@example.com")
            sim.advance_progress(participant_id=expiring, activities=1)
            sim.set_participant_times(expiring, expiration=now + timedelta(days=5))
            done = enroll(project, f"done-{tag}@example.com")
            sim.advance_progress(participant_id=done, complete=True)
            broken = enroll(project, f"broken-{tag}@example.com")
            sim.set_participant_error(broken, f'<img src="{sentinel.url}/error"> licence missing')
            enroll(project, f"waiting-{tag}@example.com", activate=False)
        enroll(
            hostile, f'"><img src={sentinel.url}/email>@example.com', firstActivation=now - timedelta(days=30)
        )
    return {"org_id": org, "projects": [security["id"], hostile["id"], empty["id"]], "as_of": now}


def states_spec(account: dict[str, Any]) -> list[dict[str, Any]]:
    security = account["projects"][0]
    return [
        {"org_id": account["org_id"], "states": {name: {} for name in DAYS}},
        # overdue in one course only: the other courses show it as not checked
        {
            "org_id": account["org_id"],
            "project_ids": [security],
            "due": (account["as_of"] - timedelta(days=1)).isoformat(),
            "states": ["overdue"],
        },
    ]


def write_report(
    account: dict[str, Any], tmp_path: Path
) -> tuple[dict[str, Any], list[dict[str, str]], Path]:
    report_dir = tmp_path / "reports"
    operator = LearnifierProgressReportOperator(
        task_id="report",
        path=str(report_dir / "progress.csv"),
        org_id=account["org_id"],
        project_ids=account["projects"],
        states=states_spec(account),
        html_path=str(report_dir / "at-risk.html"),
    )
    summary = operator.execute({"logical_date": account["as_of"]})
    with (report_dir / "progress.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return summary, rows, report_dir / "at-risk.html"


def test_the_states_column_is_what_the_model_says(account, learnifier_conn, tmp_path):
    summary, rows, _ = write_report(account, tmp_path)

    snapshot = learnifier_conn.state.snapshot()
    participations = {str(p["id"]): p for p in snapshot["participants"]}
    security = str(account["projects"][0])
    due = account["as_of"] - timedelta(days=1)
    expected = {}
    for participant_id, raw in participations.items():
        if raw["projectId"] not in account["projects"]:
            continue
        days = DAYS | ({"overdue": 0} if str(raw["projectId"]) == security else {})
        expected[participant_id] = model_states(raw, account["as_of"], days, due)
    assert list(rows[0]) == [*COLUMNS, STATES_COLUMN]
    assert {
        row["participant_id"]: set(filter(None, row[STATES_COLUMN].split(";"))) for row in rows
    } == expected
    # every state is somewhere, so the comparison covers each
    counts = Counter(name for states in expected.values() for name in states)
    assert set(counts) == set(DAYS) | {"overdue"}
    assert summary["states"] == {name: counts[name] for name in summary["states"]}
    assert summary["html_path"] == str(tmp_path / "reports" / "at-risk.html")


def test_the_page_agrees_with_the_csv_in_a_real_browser(account, sentinel, tmp_path):
    executable = chromium_or_skip()
    _, rows, page_path = write_report(account, tmp_path)
    by_course: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_course[row["project_id"]].append(row)

    with chromium(executable, tmp_path / "profile") as browser:
        page = browser.new_page()
        for width, height, mobile in ((1280, 900, False), (390, 844, True)):
            page.open(page_path.as_uri(), width=width, height=height, mobile=mobile)
            shown = page.evaluate(READ_PAGE)
            page.screenshot(tmp_path / f"at-risk-{width}.png")

            assert shown["title"] == "Learnifier courses: who is at risk"
            # the inline style applied (its hash is in the page's Content-Security-Policy)
            assert shown["bodyMaxWidth"] == "1152px"
            assert [course["id"] for course in shown["courses"]] == [str(p) for p in account["projects"]]
            for course, overview in zip(shown["courses"], shown["overview"], strict=True):
                check_course(
                    course, overview, by_course[course["id"]], course["id"] == str(account["projects"][0])
                )
            if mobile:
                # readable on a phone: nothing wider than the screen, people shown as cards
                assert shown["scrollWidth"] <= shown["innerWidth"] == 390
                assert shown["peopleRowDisplay"] == "block"
            else:
                assert shown["peopleRowDisplay"] == "table-row"

    assert {request["url"] for request in page.requests} == {page_path.as_uri()}
    assert sentinel.paths == []
    assert not [entry for entry in page.console if entry.get("entry", {}).get("level") == "error"]


def check_course(
    course: dict[str, Any], overview: dict[str, Any], rows: list[dict[str, str]], overdue: bool
) -> None:
    """One course of the page against its CSV rows."""
    activated = [row for row in rows if row["activated"] == "true"]
    completed = [row for row in activated if "completed" in row[STATES_COLUMN].split(";")]
    states = Counter(name for row in rows for name in filter(None, row[STATES_COLUMN].split(";")))
    checked = set(DAYS) | ({"overdue"} if overdue else set())
    expected_counts = {name: states[name] for name in checked}
    share = f"{round(100 * len(completed) / len(activated)) if activated else 0}%"

    assert overview == {
        "participants": str(len(rows)),
        "activated": str(len(activated)),
        "completed": str(len(completed)),
        "completion": share,
        "atRisk": str(sum(1 for row in rows if AT_RISK & set(row[STATES_COLUMN].split(";")))),
    }
    assert {
        name: int(count) for name, count in course["table"].items() if count is not None
    } == expected_counts
    assert {name for name, count in course["table"].items() if count is None} == {"overdue"} - checked
    assert {bar["state"]: bar["count"] for bar in course["bars"]} == expected_counts
    for bar in course["bars"]:
        # each bar's drawn length is its share of the course's participants
        assert bar["width"] == pytest.approx(bar["track"] * bar["count"] / max(len(rows), 1), abs=0.5)
        assert bar["track"] > 100
    at_risk = {row["participant_id"] for row in rows if AT_RISK & set(row[STATES_COLUMN].split(";"))}
    assert set(course["people"]) == at_risk
    emails = {row["participant_id"]: row["user_email"].lstrip("'") for row in rows}
    for participant, person in course["people"].items():
        assert person == emails[participant]


#: Read what the page shows, as a reader would: from the rendered DOM (text, drawn sizes).
READ_PAGE = r"""
(() => {
  const cells = (tr) => [...tr.querySelectorAll('th, td')].map((cell) => cell.textContent.trim());
  const overview = [...document.querySelectorAll('table.overview tbody tr')].map((tr) => {
    const [, participants, activated, completed, completion, atRisk] = cells(tr);
    return {participants, activated, completed, completion, atRisk};
  });
  const courses = [...document.querySelectorAll('section.course')].map((section) => {
    const table = {};
    for (const tr of section.querySelectorAll('table.state-counts tbody tr')) {
      const td = tr.querySelector('td');
      table[tr.dataset.state] = td.hasAttribute('colspan') ? null : td.textContent.trim();
    }
    const bars = [...section.querySelectorAll('svg g.bar')].map((g) => ({
      state: g.dataset.state,
      count: Number(g.querySelector('text.count').textContent),
      width: g.querySelector('rect.value').getBoundingClientRect().width,
      track: g.querySelector('rect.track').getBoundingClientRect().width,
    }));
    const people = {};
    for (const tr of section.querySelectorAll('table.people tbody tr')) {
      people[tr.dataset.participant] = tr.querySelector('th').textContent.trim();
    }
    const ids = section.querySelector('.ids').textContent;
    return {id: ids.match(/^project (\S+?),/)[1], table, bars, people};
  });
  const row = document.querySelector('table.people tbody tr');
  return {
    title: document.title,
    bodyMaxWidth: getComputedStyle(document.body).maxWidth,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    peopleRowDisplay: row ? getComputedStyle(row).display : null,
    overview,
    courses,
  };
})()
"""


def test_the_request_check_sees_a_page_that_fetches(sentinel, tmp_path):
    """The check above can fail: a page that loads an image shows the request, and the server sees it."""
    executable = chromium_or_skip()
    fetching = tmp_path / "fetching.html"
    fetching.write_text(f'<!DOCTYPE html><title>x</title><img src="{sentinel.url}/pixel.png" alt="">')

    with chromium(executable, tmp_path / "profile") as browser:
        page = browser.new_page()
        page.open(fetching.as_uri())

    assert f"{sentinel.url}/pixel.png" in {request["url"] for request in page.requests}
    assert sentinel.paths == ["/pixel.png"]


# ---------------------------------------------------------------------- the states column's edges


def test_states_true_gives_every_state_but_overdue_with_its_defaults(account, tmp_path):
    target = tmp_path / "p.jsonl"

    summary = LearnifierProgressReportOperator(
        task_id="report",
        path=str(target),
        project_ids=account["projects"][0],
        org_id=account["org_id"],
        states=True,
    ).execute({"logical_date": account["as_of"]})

    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert all(
        list(row) == [*COLUMNS, STATES_COLUMN] and isinstance(row[STATES_COLUMN], list) for row in rows
    )
    assert summary["states"] == {"not_started": 1, "stalled": 1, "expiring": 1, "in_error": 1, "completed": 1}
    assert "html_path" not in summary


def test_a_participation_whose_states_cannot_be_told_is_a_bad_row(
    account, learnifier_conn, tmp_path, monkeypatch
):
    """``activated: "yes"`` does not stop the report: its states stay empty, and data_error says why."""
    good = {"id": 9002, "userId": seed.DEMO_ADMIN_USER_ID, "activated": True, "activitiesTotal": 4}
    served = [good | {"id": 9001, "activated": "yes"}, good]
    monkeypatch.setattr(learnifier_conn.state, "list_participants", lambda org_id, project_id: served)
    target = tmp_path / "p.jsonl"
    arguments = {"task_id": "report", "path": str(target), "project_external_ids": "sec-2026", "states": True}

    summary = LearnifierProgressReportOperator(**arguments).execute({"logical_date": account["as_of"]})

    bad, fine = (json.loads(line) for line in target.read_text(encoding="utf-8").splitlines())
    assert bad[STATES_COLUMN] is None
    assert bad["data_error"] == (
        "states unknown: Learnifier sent participant 9001 (project None) with activated yes, "
        "which is not a boolean"
    )
    assert (fine[STATES_COLUMN], fine["data_error"]) == ([], None)
    assert (summary["rows"], summary["bad_rows"]) == (2, 1)

    with pytest.raises(LearnifierParticipantDataError, match="activated"):
        LearnifierProgressReportOperator(**arguments, on_bad_data="fail").execute(
            {"logical_date": account["as_of"]}
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"states": {"org_id": "1001", "states": {"sleeping": {}}}},
            "states: unknown participant state 'sleeping'",
        ),
        ({"states": [{"states": ["in_error"]}]}, "states: a scope names its courses"),
        ({"states": False}, "states must be True or a selector spec"),
        ({"html_path": "/reports/p.csv"}, "is the report's own path"),
        ({"html_path": "reports/at-risk.html"}, "is relative"),
        ({"html_max_people": -1}, "html_max_people must be a non-negative integer"),
    ],
)
def test_bad_state_and_page_arguments_fail_when_the_dag_is_parsed(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LearnifierProgressReportOperator(task_id="report", path="/reports/p.csv", org_id=1001, **arguments)


def test_a_run_without_a_logical_date_is_refused_rather_than_read_against_the_clock(account, tmp_path):
    operator = LearnifierProgressReportOperator(
        task_id="report", path=str(tmp_path / "p.csv"), org_id=account["org_id"], states=True
    )

    with pytest.raises(ValueError, match="no logical date"):
        operator.execute({})
    assert os.listdir(tmp_path) == []
