"""Learnifier ids as the provider checks them: once, for the hook's paths and the operators' input.

Ids are case-sensitive strings (the spec types some as int64). A value that would change the
request's path once put in a URL is refused before any request is made.

Also the provider's one reading of templated input: what counts as not given (:func:`blank`) and
how a list rendered as text is read (:func:`parse_list_text`).
"""

from __future__ import annotations

from typing import Any

#: The longest id the spec allows (its id strings are at most 255 characters).
MAX_ID_LENGTH = 255


def id_problem(text: str) -> str | None:
    """Say what makes ``text`` unusable as an id in a URL path, or ``None`` when it is usable."""
    if not text:
        return "it is empty"
    if len(text) > MAX_ID_LENGTH:
        return f"it is {len(text)} characters long, more than the {MAX_ID_LENGTH} an id may have"
    if "/" in text or "\\" in text:
        return "it contains a slash"
    if ".." in text or text == ".":
        return "it contains a dot segment"
    if any(ch.isspace() for ch in text):
        return "it contains white space"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return "it contains control characters"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return "it contains a lone surrogate, which is not text that can be sent"
    return None


def check_id(name: str, value: Any) -> str:
    """Return ``value`` as id text.

    :raises ValueError: naming ``name`` and the problem, for a value that is not a string or an
        integer, or is not usable in a URL path (see :func:`id_problem`).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{name} must be a string or an integer, not {type(value).__name__}")
    text = str(value)
    if not text:
        raise ValueError(f"{name} must not be empty")
    problem = id_problem(text)
    if problem:
        shown = repr(text) if len(text) <= MAX_ID_LENGTH else f"{text[:40]!r}..."
        raise ValueError(f"{name} {shown} is not a valid Learnifier id: {problem}")
    return text


def int_like(value: Any) -> Any:
    """An id the spec types as int64, given as text (e.g. a rendered template), as a JSON number."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def blank(value: Any) -> bool:
    """Tell whether a templated argument was left empty: ``None``, a blank string, or ``'None'``.

    ``'None'`` is what Jinja renders for a missing value (``"{{ params.parent }}"`` left at null),
    so it counts as not given, as ``''`` does: an optional argument is then left out, and a
    required one is refused with an error that names it. The one rule of every operator, sensor
    and check.
    """
    if value is None:
        return True
    return isinstance(value, str) and value.strip() in ("", "None")


def parse_list_text(text: str) -> Any:
    """Read a list (or mapping) written as text: JSON, else a Python literal.

    A template rendered without native types gives the Python form (``['a', 'b']``). Every
    input that may be a rendered list (id lists, rosters, the report's selection) is read here.

    :raises ValueError: when ``text`` is neither; the message is JSON's reason.
    """
    import json

    try:
        return json.loads(text)
    except ValueError as json_error:
        import ast

        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(str(json_error)) from None
