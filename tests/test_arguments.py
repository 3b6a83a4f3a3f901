"""The rules for arguments and connection extras that every part of the provider shares."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID, positive_number, positive_seconds

NUMBERS = st.one_of(
    st.integers(min_value=-(10**300), max_value=10**300), st.floats(allow_nan=True, allow_infinity=True)
)


@given(NUMBERS)
def test_a_number_is_positive_seconds_exactly_when_above_zero_and_finite(value):
    expected = float(value) if 0 < value < math.inf else None
    assert positive_number(value) == expected
    assert positive_number(repr(value)) == expected  # as text, as a template renders it


@given(st.floats(min_value=1e-300, max_value=1e300))
def test_positive_seconds_gives_the_number_as_a_float(value):
    seconds = positive_seconds("poll_interval", value)
    assert seconds == value
    assert type(seconds) is float


NOT_NUMBERS = st.one_of(
    st.booleans(), st.none(), st.lists(st.integers()), st.dictionaries(st.text(), st.integers())
)


@given(NOT_NUMBERS)
def test_what_is_no_number_is_refused(value):
    assert positive_number(value) is None


@given(st.text().filter(lambda text: _not_a_float(text)))
def test_text_that_is_no_number_is_refused(text):
    assert positive_number(text) is None


def _not_a_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def test_a_number_too_big_for_a_float_is_refused():
    assert positive_number(10**400) is None
    assert positive_number(" 2.5 ") == 2.5


@pytest.mark.parametrize("value", [0, -1, "0", "-0.5", "nan", "inf", float("nan"), True, None, "", "ten"])
def test_positive_seconds_names_the_argument_and_the_value(value):
    expected = r"^extra 'request_deadline' must be a positive number of seconds, not "
    with pytest.raises(ValueError, match=expected):
        positive_seconds("extra 'request_deadline'", value)
    with pytest.raises(ValueError) as raised:
        positive_seconds("poll_interval", value)
    assert str(raised.value) == f"poll_interval must be a positive number of seconds, not {value!r}"


def test_a_trigger_argument_given_as_text_is_refused():
    assert positive_seconds("poll_interval", "2.5") == 2.5
    with pytest.raises(ValueError, match=r"poll_interval must be a positive number of seconds, not '2\.5'"):
        positive_seconds("poll_interval", "2.5", text=False)


def test_the_default_connection_is_the_hooks():
    from airflow_provider_learnifier.hooks.learnifier import LearnifierHook

    assert LearnifierHook.default_conn_name == DEFAULT_CONN_ID
