"""LearnifierNudgeOperator against the simulator and a real SMTP server on loopback.

Selection is checked against the independent model of ``tests/state_model.py``, computed from
the very listings the simulator answered. Delivery is checked by what the SMTP server received:
reruns, overlapping runs and a retry after SIGKILL never deliver a reminder twice.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import LearnifierNudgeError, LearnifierNudgeLimitError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.nudges import DeliveryUncertain, LearnifierNudgeOperator, Reminder
from learnifier_simulator import LearnifierSimulator, SpecVariants, seed
from tests.smtp import FROM_EMAIL, Mail, free_port, running_sink
from tests.state_model import model_states

ORG = str(seed.DEMO_ORG_UNIT_ID)
COURSE = str(seed.DEMO_PROJECT_ID)
SECOND_COURSE_EXTERNAL_ID = "security-2026"
LISTING = re.compile(r"^/orgunits/([^/]+)/projects/([^/]+)/participants$")


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A running SMTP sink; ``AIRFLOW_CONN_SMTP_DEFAULT`` points at it."""
    with running_sink() as (sink, connection):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", connection)
        yield sink


@pytest.fixture
def hook(learnifier_conn: LearnifierSimulator) -> Any:
    with LearnifierHook() as hook:
        yield hook


def email_of(number: int) -> str:
    return f"person{number}@acme.example"


def enroll(hook: LearnifierHook, count: int, project_id: str = COURSE, start: int = 0) -> list[str]:
    """Add and activate ``count`` people; return their participant ids."""
    ids = []
    for number in range(start, start + count):
        participant_id = hook.add_participant(ORG, project_id, email=email_of(number))
        assert participant_id is not None
        hook.activate_participant(ORG, project_id, participant_id)
        ids.append(participant_id)
    return ids


def age(sim: LearnifierSimulator, participant_id: str, **days_ago: float | None) -> None:
    """Set a participation's times as days before the simulated now (``None``: never)."""
    now = sim.now()
    sim.set_participant_times(
        participant_id,
        **{name: None if d is None else now - timedelta(days=d) for name, d in days_ago.items()},
    )


def nudge(**kwargs: Any) -> LearnifierNudgeOperator:
    kwargs.setdefault("task_id", "nudge")
    return LearnifierNudgeOperator(**kwargs)


def context(as_of: datetime, run_id: str = "scheduled__1") -> dict[str, Any]:
    return {"logical_date": as_of, "run_id": run_id, "ti": mock.MagicMock(try_number=1)}


NOT_STARTED = {"org_id": ORG, "states": {"not_started": {"days": 7}}}


def not_started_people(sim: LearnifierSimulator, hook: LearnifierHook, count: int) -> list[str]:
    """``count`` people activated 10 days ago who never opened the course."""
    ids = enroll(hook, count)
    for participant_id in ids:
        age(sim, participant_id, firstActivation=10, lastActivation=10)
    return ids


# ---------------------------------------------------------------------- selection


def listings(sim: LearnifierSimulator) -> dict[str, list[dict[str, Any]]]:
    """The participants each course listing answered, by project id as in the path."""
    found = {}
    for exchange in sim.exchanges:
        match = LISTING.match(exchange.path)
        if match and exchange.method == "GET" and 200 <= (exchange.status or 0) < 300:
            found[match.group(2)] = json.loads(exchange.response_body)
    return found


def random_histories(
    sim: LearnifierSimulator, hook: LearnifierHook, rng: random.Random, ids: list[str]
) -> None:
    """Give each participation a random history: activation, access, expiry, error, progress."""
    for participant_id in ids:
        if rng.random() < 0.15:
            sim.advance_progress(participant_id=participant_id, complete=True)
        elif rng.random() < 0.3:
            sim.advance_progress(participant_id=participant_id, activities=rng.randint(0, 2))
        if rng.random() < 0.1:
            sim.set_participant_error(participant_id, rng.choice(["Seat revoked", ""]))
        activated = rng.uniform(0, 30)
        accessed = None if rng.random() < 0.5 else rng.uniform(0, activated)
        age(
            sim,
            participant_id,
            firstActivation=None if rng.random() < 0.1 else activated,
            lastActivation=activated * rng.random(),
            firstAccess=accessed,
            lastAccess=None if accessed is None or rng.random() < 0.2 else accessed * rng.random(),
            expiration=None if rng.random() < 0.1 else -rng.uniform(-5, 60),
        )


def selection_spec(due: datetime) -> list[dict[str, Any]]:
    return [
        {
            "org_id": ORG,
            "states": {
                "not_started": {"days": 7},
                "stalled": {"days": 10},
                "expiring": {"days": 30},
                "in_error": {},
                "completed": {},
            },
        },
        {
            "org_id": ORG,
            "project_external_ids": [SECOND_COURSE_EXTERNAL_ID],
            "due": due.isoformat(),
            "states": {"overdue": {}, "not_started": {"days": 3}},
        },
    ]


def model_reminders(
    sim: LearnifierSimulator, second_course: str, as_of: datetime, due: datetime
) -> set[tuple]:
    org_days = {"not_started": 7, "stalled": 10, "expiring": 30, "in_error": 0, "completed": 0}
    expected = set()
    for project_id, participants in listings(sim).items():
        days, course_due = org_days, None
        if project_id == second_course:
            days, course_due = {**org_days, "overdue": 0, "not_started": 3}, due
        for participation in participants:
            for state in model_states(participation, as_of, days, course_due):
                expected.add((project_id, str(participation["id"]), state))
    return expected


@pytest.mark.parametrize("trial", range(3))
@pytest.mark.parametrize("variants", [False, True], ids=["plain", "spec-variants"])
def test_each_state_selects_exactly_what_the_model_computes(learnifier_conn, hook, tmp_path, trial, variants):
    sim = learnifier_conn
    rng = random.Random(trial)
    second = hook.create_project(
        ORG, name="Security 2026", design_id=102, external_id=SECOND_COURSE_EXTERNAL_ID
    )
    second_course = str(second["id"])
    random_histories(sim, hook, rng, enroll(hook, 25) + enroll(hook, 25, second_course, start=100))
    as_of = sim.now()
    due = as_of - timedelta(days=rng.uniform(-3, 3))
    if variants:
        sim.variants = SpecVariants(
            seed=trial, extra_fields=True, id_types=True, any_2xx=True, drop_optional=True, shuffle=True
        )
    sim.clear_exchanges()
    delivered: list[Reminder] = []

    summary = nudge(
        selector=selection_spec(due),
        ledger_path=str(tmp_path / "ledger"),
        deliver=delivered.append,
        max_nudges=None,
    ).execute(context(as_of))

    got = {(r.course["id"], r.participant_id, r.state) for r in delivered}
    expected = model_reminders(sim, second_course, as_of, due)
    assert got == expected
    assert len(expected) > 10 and len({state for _, _, state in expected}) >= 4, "a weak trial"
    assert summary["sent"] == summary["selected"] == len(expected)
    assert summary["by_state"] == dict(Counter(state for _, _, state in expected))
    listed = [e for e in sim.exchanges if LISTING.match(e.path)]
    assert len(listed) == 2, "one participant listing per course"
    assert not [e for e in sim.exchanges if e.path.endswith("/loginlink")], "a login link was asked for"


def test_times_are_relative_to_the_logical_date_so_a_rerun_of_a_past_run_selects_the_same(
    learnifier_conn, hook, tmp_path
):
    sim = learnifier_conn
    (early, late) = enroll(hook, 2)
    age(sim, early, firstActivation=10, lastActivation=10)
    age(sim, late, firstActivation=8, lastActivation=8)
    past = sim.now() - timedelta(days=2)
    chosen: list[Reminder] = []
    operator = nudge(
        selector=NOT_STARTED, ledger_path=str(tmp_path / "l"), deliver=chosen.append, dry_run=True
    )

    summary = operator.execute(context(past))
    today = operator.execute(context(sim.now()))

    assert [ids["participant_id"] for ids in summary["would_send_ids"]] == [early]
    assert {ids["participant_id"] for ids in today["would_send_ids"]} == {early, late}
    assert chosen == [], "a dry run delivers nothing"
    assert not (tmp_path / "l").exists() or not any((tmp_path / "l").rglob("*.json")), (
        "a dry run records nothing"
    )


# ---------------------------------------------------------------------- mail


def test_reminders_are_mailed_through_the_smtp_connection(
    learnifier_conn, hook, smtp, tmp_path, caplog, capsys
):
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 3)
    hook.update_user(
        hook.list_participants(ORG, COURSE)[-1]["userId"],
        first_name="<script>alert(1)</script>",
        last_name="Doe",
    )
    caplog.set_level("DEBUG")

    summary = nudge(
        selector={**NOT_STARTED, "due": "2026-12-31"},
        ledger_path=str(tmp_path / "ledger"),
        subject_template="{{ course.name }}: {{ state }}\nBcc: everyone@acme.example",
        body_template="<p>Hi {{ person.first_name }}</p><a href='{{ access_link }}'>go</a> by {{ due_date }}",
    ).execute(context(sim.now()))

    assert sorted(smtp.recipients()) == sorted(email_of(n) for n in range(3))
    listed = {
        p["id"] if isinstance(p["id"], str) else str(p["id"]): p for p in hook.list_participants(ORG, COURSE)
    }
    for mail in smtp.mails:
        (recipient,) = mail.recipients
        participant = next(
            p for p in listed.values() if hook.get_user(p["userId"])["primaryEmail"] == recipient
        )
        assert participant["accessLink"] in mail.html
        assert "by 2026-12-31" in mail.html
        assert mail.subject == f"{seed.DEMO_PROJECT_NAME}: not_started Bcc: everyone@acme.example"
        headers = re.split(rb"\r?\n\r?\n", mail.raw, maxsplit=1)[0]
        assert not re.search(rb"(?im)^bcc:", headers), "a template forged a header"
        assert f"From: {FROM_EMAIL}".encode() in mail.raw
        assert "/login" not in mail.html
    escaped = [m for m in smtp.mails if "&lt;script&gt;" in m.html]
    assert len(escaped) == 1 and "<script>" not in escaped[0].html
    assert summary["sent"] == 3 and sorted(i["participant_id"] for i in summary["sent_ids"]) == sorted(ids)
    assert json.loads(json.dumps(summary)) == summary
    # Every log line but the SMTP server's own (mail.log: the test's server, not the task).
    printed = capsys.readouterr()
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    lines += [line for line in (printed.out + printed.err).splitlines() if "mail.log" not in line]
    task_log = "\n".join(lines)
    assert "Reminded" in task_log
    for secret in [*(email_of(n) for n in range(3)), "accessLink", "/access/", "Doe", "script"]:
        assert secret not in task_log
        assert secret not in json.dumps(summary)


def test_a_rerun_and_a_later_run_in_the_same_milestone_send_nothing_more(
    learnifier_conn, hook, smtp, tmp_path
):
    sim = learnifier_conn
    not_started_people(sim, hook, 4)
    operator = nudge(selector=NOT_STARTED, ledger_path=str(tmp_path / "ledger"))

    first = operator.execute(context(sim.now()))
    rerun = operator.execute(context(sim.now(), run_id="scheduled__1"))
    sim.advance_clock(timedelta(days=1))
    next_day = operator.execute(context(sim.now(), run_id="scheduled__2"))

    assert Counter(smtp.recipients()) == {email_of(n): 1 for n in range(4)}
    assert (first["sent"], rerun["sent"], next_day["sent"]) == (4, 0, 0)
    assert rerun["already_sent"] == next_day["already_sent"] == 4


def test_a_new_milestone_reminds_again(learnifier_conn, hook, smtp, tmp_path):
    sim = learnifier_conn
    (person,) = enroll(hook, 1)
    age(sim, person, firstActivation=40, lastActivation=40, firstAccess=30, lastAccess=20)
    operator = nudge(
        selector={"org_id": ORG, "states": {"stalled": {"days": 14}}}, ledger_path=str(tmp_path / "l")
    )

    operator.execute(context(sim.now()))
    sim.advance_progress(participant_id=person, activities=1)  # back at it: the stall ended
    operator.execute(context(sim.now()))
    sim.advance_clock(timedelta(days=15))  # stalled again: a new milestone
    operator.execute(context(sim.now()))
    operator.execute(context(sim.now()))

    assert smtp.recipients() == [email_of(0), email_of(0)]


# ---------------------------------------------------------------------- users

#: A body that shows every field of the person, so that two lookups' mails can be compared.
PERSON_BODY = (
    "<p>{{ person.user_id }} {{ person.first_name }} {{ person.last_name }} {{ person.display_name }} "
    "{{ person.email }} {{ participant_id }} {{ access_link }}</p>"
)
USER_GET = ("GET", "/users/{userid}")
USER_PAGE = ("GET", "/users")


def named_people(sim: LearnifierSimulator, hook: LearnifierHook, count: int) -> dict[str, str]:
    """``count`` not-started people with names; return each one's email address by user id."""
    not_started_people(sim, hook, count)
    by_user = {}
    for participant in hook.list_participants(ORG, COURSE):
        user_id = str(participant["userId"])
        email = hook.get_user(user_id)["primaryEmail"]
        number = int(email.removeprefix("person").split("@")[0])
        hook.update_user(
            user_id, first_name=f"Ada{number}", last_name=f"Byron{number}", display_name=f"Ada B. {number}"
        )
        by_user[user_id] = email
    return by_user


def user_requests(sim: LearnifierSimulator) -> tuple[list[str], int]:
    """The users fetched one by one (their ids, in order) and how many listing pages were read."""
    gets = [e.path.rsplit("/", 1)[1] for e in sim.exchanges if e.operation == USER_GET]
    return gets, sum(1 for e in sim.exchanges if e.operation == USER_PAGE)


def sent_mails(smtp: Any) -> list[tuple[tuple[str, ...], str, str]]:
    return sorted((mail.recipients, mail.subject, mail.html) for mail in smtp.mails)


def nudge_everyone(sim: LearnifierSimulator, ledger: Any, **kwargs: Any) -> dict[str, Any]:
    """Nudge every not-started person of the course, with a fresh ledger, recording the requests."""
    sim.clear_exchanges()
    return nudge(selector=NOT_STARTED, ledger_path=str(ledger), body_template=PERSON_BODY, **kwargs).execute(
        context(sim.now())
    )


def test_a_small_selection_looks_each_person_up_on_their_own(learnifier_conn, hook, smtp, tmp_path):
    sim = learnifier_conn
    emails = named_people(sim, hook, 3)

    summary = nudge_everyone(sim, tmp_path / "ledger")

    gets, pages = user_requests(sim)
    assert sorted(gets) == sorted(emails) and pages == 0, "fewer people than a page: no listing"
    assert summary["sent"] == 3 and sorted(smtp.recipients()) == sorted(emails.values())


@pytest.mark.parametrize("user_lookup", ["auto", "scan"])
def test_a_large_selection_reads_the_user_listing_and_mails_exactly_what_single_lookups_do(
    learnifier_conn, hook, smtp, tmp_path, user_lookup
):
    sim = learnifier_conn
    emails = named_people(sim, hook, 12)
    account_users = len(sim.state.snapshot()["users"])
    single = nudge_everyone(sim, tmp_path / "one-by-one", user_lookup="get")
    singly_mailed = sent_mails(smtp)
    gets, pages = user_requests(sim)
    assert (len(gets), pages) == (12, 0)
    smtp.mails.clear()

    summary = nudge_everyone(sim, tmp_path / "listed", user_lookup=user_lookup, scan_page_size=4)

    gets, pages = user_requests(sim)
    # "auto": one page's worth one by one, then the listing; "scan": the listing only. X-More
    # says when the last page was read.
    assert len(gets) == (4 if user_lookup == "auto" else 0)
    assert pages == math.ceil(account_users / 4)
    assert len(gets) + pages < 12, "the listing must cost fewer requests than one per person"
    assert sent_mails(smtp) == singly_mailed, "the listing changed what was mailed"
    assert Counter(smtp.recipients()) == {email: 1 for email in emails.values()}
    assert summary["sent"] == single["sent"] == 12


@pytest.mark.parametrize(
    "variants",
    [
        SpecVariants(users_page_cap=3),
        SpecVariants(
            seed=5,
            users_page_cap=3,
            random_page_sizes=True,
            paging_headers=False,
            shuffle=True,
            id_types=True,
            extra_fields=True,
        ),
    ],
    ids=["short-pages", "random-short-pages-no-headers"],
)
def test_short_user_pages_are_read_to_their_end_and_mail_what_single_lookups_do(
    learnifier_conn, hook, smtp, tmp_path, variants
):
    sim = learnifier_conn
    emails = named_people(sim, hook, 10)
    account_users = len(sim.state.snapshot()["users"])
    nudge_everyone(sim, tmp_path / "one-by-one", user_lookup="get")
    singly_mailed = sent_mails(smtp)
    smtp.mails.clear()
    sim.variants = variants

    summary = nudge_everyone(sim, tmp_path / "listed", user_lookup="scan", scan_page_size=10)

    gets, pages = user_requests(sim)
    assert gets == [], "every person was in the listing: none is fetched on their own"
    assert pages >= math.ceil(account_users / 3), "pages hold at most 3 users, fewer than the 10 asked"
    assert sent_mails(smtp) == singly_mailed
    assert summary["sent"] == 10 and Counter(smtp.recipients()) == {e: 1 for e in emails.values()}


def test_a_person_the_listing_skips_or_garbles_is_fetched_on_their_own_never_skipped_nor_mis_mailed(
    learnifier_conn, hook, smtp, tmp_path
):
    """A hostile listing: one person left out (a case-variant decoy in their place), one listed twice."""
    sim = learnifier_conn
    emails = named_people(sim, hook, 6)
    nudge_everyone(sim, tmp_path / "one-by-one", user_lookup="get")
    singly_mailed = sent_mails(smtp)
    smtp.mails.clear()
    listed = hook.list_users_page(limit=1000).users
    skipped, doubled = [u for u in emails if any(ch.isalpha() for ch in u)][:2]
    page = [user for user in listed if str(user["id"]) != skipped]
    decoy = {**next(u for u in listed if str(u["id"]) == skipped), "primaryEmail": "decoy@evil.example"}
    page.append({**decoy, "id": skipped.upper()})  # another id: ids are case-sensitive
    impostor = {**next(u for u in listed if str(u["id"]) == doubled), "primaryEmail": "impostor@evil.example"}
    page.append(impostor)
    sim.inject(200, method="GET", path="/users", body=json.dumps(page).encode())

    summary = nudge_everyone(sim, tmp_path / "listed", user_lookup="scan")

    gets, pages = user_requests(sim)
    assert sorted(gets) == sorted([skipped, doubled]), "only the two in doubt are fetched on their own"
    assert pages == 2, "the injected page, then an empty one (no paging headers)"
    assert sent_mails(smtp) == singly_mailed
    assert Counter(smtp.recipients()) == {email: 1 for email in emails.values()}
    assert summary["sent"] == 6 and summary["failed"] == 0


def test_a_user_listing_the_key_may_not_read_falls_back_to_single_lookups(
    learnifier_conn, hook, smtp, tmp_path
):
    sim = learnifier_conn
    emails = named_people(sim, hook, 5)
    sim.inject(403, method="GET", path="/users")  # GET /users needs full access; GET /users/{id} not

    summary = nudge_everyone(sim, tmp_path / "ledger", user_lookup="scan")

    gets, _ = user_requests(sim)
    assert sorted(gets) == sorted(emails), "the listing is asked for once, then everyone one by one"
    assert [e.status for e in sim.exchanges if e.operation == USER_PAGE] == [403]
    assert summary["sent"] == 5 and Counter(smtp.recipients()) == {e: 1 for e in emails.values()}


def test_a_user_that_does_not_exist_fails_its_reminder_and_the_others_go_out(
    learnifier_conn, hook, smtp, tmp_path
):
    sim = learnifier_conn
    emails = named_people(sim, hook, 3)
    gone = sorted(emails)[0]
    sim.inject(404, method="GET", path=f"/users/{gone}")

    with pytest.raises(LearnifierNudgeError, match="1 of 3") as caught:
        nudge_everyone(sim, tmp_path / "ledger")

    (failed,) = caught.value.summary["failed_ids"]
    assert failed["user_id"] == gone and failed["error"] == "the user does not exist"
    assert sorted(smtp.recipients()) == sorted(e for u, e in emails.items() if u != gone)


# ---------------------------------------------------------------------- guards


def test_max_nudges_refuses_a_run_that_would_send_more_and_sends_nothing(
    learnifier_conn, hook, smtp, tmp_path
):
    sim = learnifier_conn
    not_started_people(sim, hook, 5)
    ledger = tmp_path / "ledger"

    with pytest.raises(
        LearnifierNudgeLimitError, match=r"would send 5 reminder\(s\), more than max_nudges \(4\)"
    ):
        nudge(selector=NOT_STARTED, ledger_path=str(ledger), max_nudges=4).execute(context(sim.now()))
    assert smtp.mails == []
    assert not list(ledger.rglob("*.json"))
    dry = nudge(selector=NOT_STARTED, ledger_path=str(ledger), max_nudges=4, dry_run=True).execute(
        context(sim.now())
    )
    assert dry["refused_by_max_nudges"] is True and smtp.mails == []

    summary = nudge(selector=NOT_STARTED, ledger_path=str(ledger), max_nudges=5).execute(context(sim.now()))
    assert summary["sent"] == 5 and len(smtp.mails) == 5


def test_max_nudges_counts_only_what_is_left_to_send(learnifier_conn, hook, smtp, tmp_path):
    sim = learnifier_conn
    not_started_people(sim, hook, 3)
    ledger = str(tmp_path / "ledger")
    nudge(selector=NOT_STARTED, ledger_path=ledger).execute(context(sim.now()))
    for participant_id in enroll(hook, 2, start=10):
        age(sim, participant_id, firstActivation=8, lastActivation=8)

    summary = nudge(selector=NOT_STARTED, ledger_path=ledger, max_nudges=2).execute(context(sim.now()))

    assert summary["sent"] == 2 and summary["already_sent"] == 3


def test_a_refused_mail_is_reported_and_retried_next_run_without_duplicating_others(
    learnifier_conn, hook, smtp, tmp_path
):
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 4)
    smtp.refuse = {email_of(2)}
    operator = nudge(selector=NOT_STARTED, ledger_path=str(tmp_path / "ledger"))
    ctx = context(sim.now())

    with pytest.raises(LearnifierNudgeError, match="1 of 4 reminder") as caught:
        operator.execute(ctx)
    summary = caught.value.summary
    assert [f["participant_id"] for f in summary["failed_ids"]] == [ids[2]]
    assert summary["failed_ids"][0]["error"] == "SMTPRecipientsRefused 550"
    assert email_of(2) not in json.dumps(summary)
    ctx["ti"].xcom_push.assert_called_once_with(key="return_value", value=summary)
    assert sorted(smtp.recipients()) == sorted(email_of(n) for n in (0, 1, 3))

    smtp.refuse = set()
    retried = operator.execute(context(sim.now(), run_id="scheduled__2"))

    assert Counter(smtp.recipients()) == {email_of(n): 1 for n in range(4)}
    assert [i["participant_id"] for i in retried["sent_ids"]] == [ids[2]] and retried["already_sent"] == 3


def test_an_unreachable_smtp_server_fails_the_run_and_the_next_run_sends_all(
    learnifier_conn, hook, smtp, tmp_path, monkeypatch
):
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 3)
    working = os.environ["AIRFLOW_CONN_SMTP_DEFAULT"]
    closed = {**json.loads(working), "port": free_port()}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(closed))
    operator = nudge(selector=NOT_STARTED, ledger_path=str(tmp_path / "ledger"))

    with pytest.raises(LearnifierNudgeError, match="3 of 3") as caught:
        operator.execute(context(sim.now()))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", working)
    summary = operator.execute(context(sim.now()))

    failed = caught.value.summary["failed_ids"]
    assert sorted(f["participant_id"] for f in failed) == sorted(ids)
    assert all(
        f["error"].startswith("the SMTP server could not be reached: ConnectionRefusedError") for f in failed
    )
    assert summary["sent"] == 3 and Counter(smtp.recipients()) == {email_of(n): 1 for n in range(3)}


def test_a_failing_delivery_callable_is_retried_next_run(learnifier_conn, hook, tmp_path):
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 3)
    delivered: list[str] = []
    broken = {ids[1]}

    def deliver(reminder: Reminder) -> None:
        if reminder.participant_id in broken:
            raise RuntimeError("the chat service said no")
        delivered.append(reminder.participant_id)

    operator = nudge(selector=NOT_STARTED, ledger_path=str(tmp_path / "ledger"), deliver=deliver)
    with pytest.raises(LearnifierNudgeError):
        operator.execute(context(sim.now()))
    broken.clear()
    operator.execute(context(sim.now()))

    assert sorted(delivered) == sorted(ids)


def test_an_uncertain_delivery_is_never_retried_and_named_by_later_runs(learnifier_conn, hook, tmp_path):
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 2)
    calls: list[str] = []

    def deliver(reminder: Reminder) -> None:
        calls.append(reminder.participant_id)
        if reminder.participant_id == ids[0]:
            raise DeliveryUncertain("the webhook timed out")

    operator = nudge(selector=NOT_STARTED, ledger_path=str(tmp_path / "ledger"), deliver=deliver)
    first = operator.execute(context(sim.now()))
    second = operator.execute(context(sim.now()))

    assert calls == ids
    assert [u["participant_id"] for u in first["unconfirmed_ids"]] == [ids[0]]
    assert [u["participant_id"] for u in second["unconfirmed_ids"]] == [ids[0]]
    assert second["sent"] == 0 and second["already_sent"] == 1


def test_unusable_participant_data_is_skipped_and_counted(learnifier_conn, hook, tmp_path):
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 2)
    listed = hook.list_participants(ORG, COURSE)
    listed[0] = {**listed[0], "firstAccess": "yesterday"}
    listed[1] = {**listed[1], "accessLink": "javascript:alert(1)"}
    sim.inject(
        200,
        method="GET",
        path=f"/orgunits/{ORG}/projects/{COURSE}/participants",
        body=json.dumps(listed).encode(),
    )
    delivered: list[Reminder] = []

    summary = nudge(selector=NOT_STARTED, ledger_path=str(tmp_path / "l"), deliver=delivered.append).execute(
        context(sim.now())
    )

    assert delivered == []
    assert [(b["participant_id"], b["field"]) for b in summary["bad_data_ids"]] == [
        (ids[0], "firstAccess"),
        (ids[1], "accessLink"),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"selector": []}, "at least one scope"),
        ({"selector": NOT_STARTED, "max_nudges": -1}, "max_nudges"),
        ({"selector": NOT_STARTED, "deliver": "print"}, "deliver must be a callable"),
        ({"selector": NOT_STARTED, "subject_template": " "}, "subject_template"),
        ({"selector": NOT_STARTED, "body_template": "{% if state %}"}, "body_template is not a valid Jinja"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(tmp_path, arguments, message):
    with pytest.raises((ValueError, TypeError), match=message):
        nudge(ledger_path=str(tmp_path), **arguments)


def test_a_selector_with_templates_inside_is_read_when_the_task_runs(learnifier_conn, hook, tmp_path):
    sim = learnifier_conn
    (person,) = not_started_people(sim, hook, 1)
    templated = [{"org_id": "{{ params.org }}", "states": {"not_started": {"days": "{{ params.days }}"}}}]
    operator = nudge(selector=templated, ledger_path=str(tmp_path / "l"), deliver=print, dry_run=True)
    operator.render_template_fields({"params": {"org": ORG, "days": 7}})

    summary = operator.execute(context(sim.now()))

    assert [ids["participant_id"] for ids in summary["would_send_ids"]] == [person]


def test_a_relative_ledger_path_is_refused(learnifier_conn, hook):
    with pytest.raises(ValueError, match="relative"):
        nudge(selector=NOT_STARTED, ledger_path="ledger", deliver=print).execute(
            context(learnifier_conn.now())
        )


# ---------------------------------------------------------------------- concurrency and crashes


@pytest.mark.parametrize("trial", range(5))
def test_overlapping_runs_never_deliver_a_reminder_twice(learnifier_conn, hook, smtp, tmp_path, trial):
    sim = learnifier_conn
    not_started_people(sim, hook, 12)
    rng = random.Random(trial)
    smtp.on_mail = lambda mail: time.sleep(rng.uniform(0, 0.01))
    ledger = str(tmp_path / "ledger")
    as_of = sim.now()
    results: list[Any] = []

    def run(number: int) -> None:
        time.sleep(rng.uniform(0, 0.02))
        try:
            results.append(
                nudge(selector=NOT_STARTED, ledger_path=ledger).execute(context(as_of, f"run{number}"))
            )
        except Exception as err:  # pragma: no cover - reported by the assertion below
            results.append(err)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert all(isinstance(r, dict) for r in results), results
    assert Counter(smtp.recipients()) == {email_of(n): 1 for n in range(12)}
    assert sum(r["sent"] for r in results) == 12


NUDGE_SCRIPT = """
import json, os, sys
from datetime import datetime
from airflow_provider_learnifier.operators.nudges import LearnifierNudgeOperator
arguments = json.loads(sys.argv[1])
operator = LearnifierNudgeOperator(
    task_id="nudge", selector=arguments["selector"], ledger_path=arguments["ledger"]
)
as_of = datetime.fromisoformat(arguments["as_of"])
print(json.dumps(operator.execute({"logical_date": as_of, "run_id": "r1"})))
"""


def run_in_child(arguments: dict[str, Any]) -> subprocess.Popen[str]:
    """Run the operator in a child process, as a worker would, so that a test can SIGKILL it."""
    return subprocess.Popen(
        [sys.executable, "-c", NUDGE_SCRIPT, json.dumps(arguments)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    "killed_at", [pytest.param(1, marks=pytest.mark.crashes), 3, pytest.param(6, marks=pytest.mark.crashes)]
)
def test_a_retry_after_sigkill_mid_way_never_resends_and_names_the_one_in_doubt(
    learnifier_conn, hook, smtp, tmp_path, killed_at
):
    """The worker dies (SIGKILL) while the server takes the ``killed_at``-th mail, before its 250."""
    sim = learnifier_conn
    ids = not_started_people(sim, hook, 6)
    arguments = {"selector": NOT_STARTED, "ledger": str(tmp_path / "ledger"), "as_of": sim.now().isoformat()}
    child: dict[str, subprocess.Popen[str]] = {}

    def kill_when_reached(mail: Mail) -> None:
        if len(smtp.mails) == killed_at:
            os.kill(child["process"].pid, signal.SIGKILL)

    smtp.on_mail = kill_when_reached
    child["process"] = run_in_child(arguments)
    child["process"].communicate(timeout=120)
    assert child["process"].returncode == -signal.SIGKILL
    smtp.on_mail = None
    assert len(smtp.mails) == killed_at

    retry = nudge(selector=NOT_STARTED, ledger_path=arguments["ledger"]).execute(
        context(datetime.fromisoformat(arguments["as_of"]))
    )

    assert Counter(smtp.recipients()) == {email_of(n): 1 for n in range(6)}
    doubtful = smtp.mails[killed_at - 1].recipients[0]
    (unconfirmed,) = retry["unconfirmed_ids"]
    assert email_of(ids.index(unconfirmed["participant_id"])) == doubtful
    assert retry["sent"] == 6 - killed_at


@pytest.mark.crashes
@pytest.mark.parametrize("trial", range(8))
def test_a_kill_at_any_moment_then_a_retry_delivers_each_reminder_at_most_once(
    learnifier_conn, hook, smtp, tmp_path, trial
):
    sim = learnifier_conn
    not_started_people(sim, hook, 8)
    arguments = {"selector": NOT_STARTED, "ledger": str(tmp_path / "ledger"), "as_of": sim.now().isoformat()}
    rng = random.Random(trial)
    smtp.on_mail = lambda mail: time.sleep(0.05)
    process = run_in_child(arguments)
    deadline = time.monotonic() + 60
    while not smtp.mails and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.25))  # each mail takes the server 50 ms: the run is mid-way
    process.kill()
    process.communicate(timeout=60)
    smtp.on_mail = None
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"

    retry = nudge(selector=NOT_STARTED, ledger_path=arguments["ledger"]).execute(
        context(datetime.fromisoformat(arguments["as_of"]))
    )

    delivered = Counter(smtp.recipients())
    assert max(delivered.values()) == 1, delivered
    missing = {email_of(n) for n in range(8)} - set(delivered)
    assert len(retry["unconfirmed_ids"]) <= 1, "only the reminder in hand when the worker died is in doubt"
    assert len(missing) <= len(retry["unconfirmed_ids"])


# ---------------------------------------------------------------------- in a DAG


def test_the_summary_reaches_xcom_in_a_dag_run(learnifier_conn, hook, smtp, tmp_path, run_dag):
    sim = learnifier_conn
    not_started_people(sim, hook, 2)

    dag_run = run_dag("operators_nudges", conf={"ledger": str(tmp_path / "ledger")})

    value = dag_run.get_task_instance("nudge").xcom_pull(task_ids="nudge")
    assert value["sent"] == 2 and json.loads(json.dumps(value)) == value
    assert len(smtp.mails) == 2
