"""Credentials a server echoes never get past the hook's edge: not into errors, logs, return values or XComs.

The simulator's ``echo_credentials`` fault answers an error whose message, field, headers and
``Location`` repeat the request's ``Authorization`` header, the key and the secret, in several
encodings, with every ``/`` of its JSON escaped.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import (
    LearnifierError,
    LearnifierResponseError,
    LearnifierServerError,
    LearnifierValidationError,
)
from airflow_provider_learnifier.hooks._transport.redaction import SCRUBBER, CredentialScrubber
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import LearnifierSimulator, seed

#: Credentials whose Basic token holds both "/" and "+", so its percent-encoded and URL-safe forms differ.
KEY = "echo-key-0"
SECRET = "Echo/Sécretÿ>?~>>"
TOKEN = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode("ascii")
PARTICIPANTS = f"/orgunits/{seed.DEMO_ORG_UNIT_ID}/projects/{seed.DEMO_PROJECT_ID}/participants"


def credential_forms(key: str, secret: str) -> list[str]:
    """Every form of the credentials that must never be seen."""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(f"{key}:{secret}".encode()).decode("ascii")
    forms = [key, secret, token, token.rstrip("="), urlsafe.rstrip("="), f"Basic {token}"]
    for value in (key, secret, token):
        encoded = quote(value, safe="")
        lower_hex = re.sub("%[0-9A-F]{2}", lambda escape: escape.group().lower(), encoded)
        forms += [encoded, lower_hex, quote_plus(value), quote(value)]
    return forms


def assert_no_credential(text: str) -> None:
    for form in credential_forms(KEY, SECRET):
        assert form not in text, f"{form!r} leaked"


def error_text(error: BaseException) -> str:
    """Everything an error shows: its message, repr, attributes and the whole formatted chain."""
    shown = [str(error), repr(error), *traceback.format_exception(error)]
    if isinstance(error, LearnifierError):
        shown.append(json.dumps(error.details, default=str))
        shown.append(json.dumps(getattr(error, "failures", []), default=str))
    return "\n".join(shown)


@pytest.fixture
def echoing(monkeypatch):
    """A simulator with the credentials above; ``AIRFLOW_CONN_LEARNIFIER_DEFAULT`` points at it."""
    with LearnifierSimulator(key=KEY, secret=SECRET, seed="demo", tls=True) as simulator:
        monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", simulator.connection_json())
        yield simulator


# ---------------------------------------------------------------------- the scrubber itself


_TEXT = st.text(st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), max_size=20)
_SECRET = st.text(
    st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=4, max_size=24
)


@given(key=_SECRET, secret=_SECRET, around=st.lists(_TEXT, min_size=12, max_size=12))
def test_no_form_of_a_basic_pair_survives_scrubbing(key, secret, around):
    scrubber = CredentialScrubber()
    scrubber.add_basic_auth(key, secret)
    forms = credential_forms(key, secret)
    text = "".join(piece + form for piece, form in zip(around, forms, strict=False))
    scrubbed = scrubber.scrub(text)
    for form in forms:
        if len(form) >= 4:
            assert form not in scrubbed
    assert scrubber.scrub_json({text: [text, {"n": 1, "s": text}]}) == {
        scrubbed: [scrubbed, {"n": 1, "s": scrubbed}]
    }


@given(
    key=_SECRET,
    secret=_SECRET,
    which=st.integers(min_value=0),
    around=st.tuples(_TEXT, _TEXT),
    encoding=st.sampled_from(
        ["utf-8", "ascii-escaped", "slash-escaped", "utf-16", "every-character-escaped"]
    ),
)
@example(key="kéy-1234", secret="sécret/99", which=1, around=("", ""), encoding="ascii-escaped")
@example(key="00%À", secret="0000", which=0, around=("", ""), encoding="utf-8")  # non-ASCII beside a %
@example(key="kéy-1234", secret="sécret/99", which=1, around=("é", ""), encoding="slash-escaped")
@example(key='k"ey-1234', secret="se\\cret-99", which=0, around=("", ""), encoding="utf-16")
@example(
    key="plain-key-1234",
    secret="plain-secret-99",
    which=1,
    around=("", ""),
    encoding="every-character-escaped",
)
@example(
    key="k\U0001f600y-1234", secret="s\U0001f600cret", which=0, around=("", ""), encoding="ascii-escaped"
)
def test_no_form_survives_in_a_json_answer_however_it_is_written(key, secret, which, around, encoding):
    """One form of the credentials in a JSON answer, written in one of the ways a server may."""
    scrubber = CredentialScrubber()
    scrubber.add_basic_auth(key, secret)
    forms = [form for form in credential_forms(key, secret) if len(form) >= 4]
    form = forms[which % len(forms)]
    written = json.dumps(
        {"message": around[0] + form + around[1], "n": 1}, ensure_ascii=encoding == "ascii-escaped"
    )
    if encoding == "slash-escaped":
        written = written.replace("/", "\\/")
    content = written.encode("utf-16" if encoding == "utf-16" else "utf-8")

    scrubbed = scrubber.scrub_json_answer(content, json.loads(content))

    # A short generated secret may be part of the name "message" too, which is scrubbed as well.
    (message,) = (value for value in scrubbed.values() if isinstance(value, str))
    assert form not in message


def test_an_extra_secret_is_scrubbed_in_all_its_forms_and_other_text_is_left_alone():
    scrubber = CredentialScrubber()
    assert scrubber.scrub("nothing registered") == "nothing registered"
    scrubber.add("proxy pass/word")
    text = "proxy pass/word, proxy%20pass%2Fword, proxy+pass%2fword and a proxy word"
    assert scrubber.scrub(text) == "***, ***, *** and a proxy word"
    holding = [
        b'{"a": "proxy pass/word"}',
        b'{"a": "proxy%20pass%2fword"}',
        b'{"a": "proxy pass\\/word"}',  # an escape hides it from the bytes
        b'{"a": "proxy pass\\u002fword"}',
        b'{"proxy pass/word": 1}',
        '{"a": "proxy pass/word"}'.encode("utf-16"),
    ]
    for content in holding:
        assert "***" in json.dumps(scrubber.scrub_json_answer(content, json.loads(content))), content
    for content in (b'{"a": "proxy word"}', b'{"a": "proxy\\/word"}'):
        decoded = json.loads(content)
        assert scrubber.scrub_json_answer(content, decoded) is decoded  # clean: returned as it is


# ---------------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(400, LearnifierValidationError), (500, LearnifierServerError), (302, LearnifierResponseError)],
)
def test_an_echoed_authorization_reaches_no_exception(echoing, no_sleep, status, error_class):
    echoing.inject(status=status, times=10, path="/orgunits", echo_credentials=True)
    hook = LearnifierHook()
    try:
        with pytest.raises(error_class) as caught:
            hook.list_org_units()
    finally:
        hook.close()
    (answer, *_) = [e for e in echoing.exchanges if e.path == "/orgunits"]
    assert TOKEN.replace("/", "\\/") in answer.response_body.decode(), "the fault did not echo"
    shown = error_text(caught.value)
    assert_no_credential(shown)
    assert "***" in shown
    if status == 302:
        assert "redirect to ***:***@elsewhere.example" in str(caught.value)
    else:
        assert caught.value.field == "***"
        assert "Authorization: Basic ***" in caught.value.api_message


def test_a_credential_in_a_success_body_is_scrubbed_from_the_return_value(echoing):
    body = json.dumps({"id": seed.DEMO_ORG_UNIT_ID, "name": f"Basic {TOKEN} {SECRET}"}).replace("/", "\\/")
    echoing.inject(status=200, path=f"/orgunits/{seed.DEMO_ORG_UNIT_ID}", body=body.encode())
    with LearnifierHook() as hook:
        org_unit = hook.get_org_unit(seed.DEMO_ORG_UNIT_ID)
    assert org_unit == {"id": seed.DEMO_ORG_UNIT_ID, "name": "Basic *** ***"}


def test_the_scrubber_knows_the_connection_once_the_hook_read_it(echoing):
    with LearnifierHook() as hook:
        hook.list_org_units()
    lower_hex = quote(SECRET, safe="").replace("%2F", "%2f")
    assert SCRUBBER.scrub(f"Authorization: Basic {TOKEN}; {lower_hex}") == "Authorization: Basic ***; ***"


# ---------------------------------------------------------------------- logs, return values, XCom


def test_an_echoed_authorization_reaches_no_log_line_nor_the_enrollment_summary(
    echoing, run_dag, caplog, capsys
):
    """An enrollment whose participant POST answers 400 with the credentials echoed: the person
    fails, with Learnifier's message in the reason, scrubbed in the log and in the XCom summary."""
    caplog.set_level(logging.DEBUG)
    echoing.inject(status=400, method="POST", path=PARTICIPANTS, echo_credentials=True)
    roster = [{"email": "echo1@example.com"}, {"email": "echo2@example.com"}]

    dag_run = run_dag("operators_enroll_by_id", {"roster": roster})

    assert dag_run.state == "success"  # max_failures=2
    ti = dag_run.get_task_instance("enroll")
    summary = ti.xcom_pull(task_ids="enroll")
    (failure,) = summary["failed"]
    assert "Authorization: Basic ***" in failure["reason"]
    logs = caplog.text + capsys.readouterr().out  # the task logger prints on Airflow 3
    assert "Authorization: Basic ***" in logs
    assert_no_credential(json.dumps(summary, ensure_ascii=False))
    # Airflow 3.0's task runner itself logs each request to its supervisor at DEBUG, and the
    # MaskSecret request that registers a secret with the masker holds that secret: Airflow's
    # line, not ours (later Airflow versions omit it).
    ours = "\n".join(line for line in logs.splitlines() if "MaskSecret(" not in line)
    assert_no_credential(ours)


def test_an_echoed_authorization_reaches_no_trigger_event(echoing):
    """A completion trigger refused (401) with the credentials echoed: its error event is clean."""
    import asyncio
    import time

    from airflow_provider_learnifier.triggers.projects import LearnifierProjectCompletionTrigger

    echoing.inject(status=401, times=10, path=PARTICIPANTS, echo_credentials=True)
    trigger = LearnifierProjectCompletionTrigger(
        org_id=seed.DEMO_ORG_UNIT_ID,
        project_id=seed.DEMO_PROJECT_ID,
        poll_interval=0.05,
        end_time=time.time() + 5,
    )

    async def first_event():
        return (await anext(trigger.run())).payload

    payload = asyncio.run(first_event())

    assert payload["status"] == "error"
    assert "Authorization: Basic ***" in payload["message"]
    assert_no_credential(json.dumps(payload, ensure_ascii=False))
