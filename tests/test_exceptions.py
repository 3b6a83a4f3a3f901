"""The typed errors: what each says about a failed request, and whether it may have been applied."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_learnifier.exceptions import (
    LearnifierActivationError,
    LearnifierAuthError,
    LearnifierConflictError,
    LearnifierConnectionError,
    LearnifierError,
    LearnifierNeverCompletesError,
    LearnifierNotFoundError,
    LearnifierRateLimitError,
    LearnifierRefusedError,
    LearnifierResponseError,
    LearnifierServerError,
    LearnifierUncertainWriteError,
    LearnifierValidationError,
    LearnifierWaitError,
)

DETAILS = {
    "operation": "add_participant",
    "method": "POST",
    "path": "/orgunits/1001/projects/2001/participants",
    "status": 422,
    "code": 42,
    "field": "email",
    "api_message": "Invalid email",
}

#: Answers by which Learnifier did not do what was asked: nothing was applied, nothing runs on.
REFUSALS = [
    LearnifierAuthError,
    LearnifierNotFoundError,
    LearnifierConflictError,
    LearnifierValidationError,
    LearnifierRefusedError,
    LearnifierActivationError,
    LearnifierRateLimitError,
    LearnifierNeverCompletesError,
]


@pytest.mark.parametrize("error_class", [LearnifierError, *REFUSALS])
def test_every_error_keeps_what_it_says_about_the_request(error_class):
    error = error_class("Learnifier refused it", **DETAILS)

    assert str(error) == "Learnifier refused it"
    assert error.details == DETAILS
    assert isinstance(error, LearnifierError)
    assert isinstance(error, AirflowException)


@pytest.mark.parametrize("error_class", REFUSALS)
def test_a_refusal_was_not_applied_and_is_not_in_flight(error_class):
    error = error_class("refused", **DETAILS)

    assert error.may_have_been_applied is False
    assert error.may_still_be_in_flight is False


def test_details_carry_an_error_over_into_another_error_unchanged():
    original = LearnifierServerError("first", **(DETAILS | {"status": 503}))

    again = LearnifierUncertainWriteError("the activation may have been applied", **original.details)

    assert again.details == original.details
    assert again.may_have_been_applied is True


@pytest.mark.parametrize(
    ("reached_server", "applied"), [(False, False), (True, True)], ids=["never-reached", "reached"]
)
def test_a_connection_error_may_be_applied_and_in_flight_only_if_it_reached_the_server(
    reached_server, applied
):
    error = LearnifierConnectionError("ReadTimeout", reached_server=reached_server, operation="create_user")

    assert error.reached_server is reached_server
    assert error.may_have_been_applied is applied
    assert error.may_still_be_in_flight is applied
    assert error.status is None


def test_a_connection_error_reached_the_server_unless_told_otherwise():
    assert LearnifierConnectionError("dropped").may_have_been_applied is True


@pytest.mark.parametrize(("status", "in_flight"), [(500, False), (502, True), (503, False), (504, True)])
def test_a_server_error_may_have_been_applied_and_a_gateway_timeout_may_still_run(status, in_flight):
    error = LearnifierServerError("failed", status=status)

    assert error.may_have_been_applied is True
    assert error.may_still_be_in_flight is in_flight


@pytest.mark.parametrize(
    ("status", "applied"), [(200, True), (201, True), (204, True), (None, True), (406, False)]
)
def test_a_bad_body_under_a_success_status_was_applied(status, applied):
    assert LearnifierResponseError("not JSON", status=status).may_have_been_applied is applied


def test_errors_carry_their_own_findings():
    assert LearnifierConflictError("exists", existing_id="u-7", status=409).existing_id == "u-7"
    assert LearnifierConflictError("exists").existing_id is None
    failures = [{"message": "No seat left", "productId": 11, "type": "LICENSE"}]
    assert LearnifierActivationError("refused", failures=failures).failures == failures
    assert LearnifierRefusedError("refused").failures == []
    assert LearnifierRateLimitError("slow down", retry_after=2.5).retry_after == 2.5
    assert LearnifierRateLimitError("slow down").retry_after is None


def test_an_activation_refusal_is_a_refusal():
    with pytest.raises(LearnifierRefusedError):
        raise LearnifierActivationError("refused", status=406)


def test_a_failed_deferred_wait_is_not_an_airflow_exception():
    """Airflow's sensors turn an AirflowException on resume into a skip under soft_fail: a failed
    wait must fail the task instead, as it does in poke mode."""
    error = LearnifierWaitError("Waiting for Learnifier project 2001 failed: LearnifierAuthError: 401")

    assert not isinstance(error, AirflowException)
    assert isinstance(error, RuntimeError)
