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
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import (
    LearnifierError,
    LearnifierResponseError,
    LearnifierServerError,
    LearnifierValidationError,
)
from airflow_provider_learnifier.hooks._scrub import SCRUBBER, CredentialScrubber
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


@pytest.fixture
def no_sleep(mocker):
    return mocker.patch("airflow_provider_learnifier.hooks.learnifier.time.sleep")


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


def test_an_extra_secret_is_scrubbed_in_all_its_forms_and_other_text_is_left_alone():
    scrubber = CredentialScrubber()
    assert scrubber.scrub("nothing registered") == "nothing registered"
    scrubber.add("proxy pass/word")
    text = "proxy pass/word, proxy%20pass%2Fword, proxy+pass%2fword and a proxy word"
    assert scrubber.scrub(text) == "***, ***, *** and a proxy word"
    assert scrubber.may_be_in_json(b'{"a": "proxy pass/word"}')
    assert not scrubber.may_be_in_json(b'{"a": "proxy word"}')
    assert scrubber.may_be_in_json(b'{"a": "proxy pass\\/word"}')  # an escape hides it from the bytes


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
    assert_no_credential(logs)
