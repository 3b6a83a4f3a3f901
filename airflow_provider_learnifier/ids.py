"""Learnifier ids as the provider checks them: once, for the hook's paths and the operators' input.

Ids are case-sensitive strings (the spec types some as int64). A value that would change the
request's path once put in a URL is refused before any request is made.

Also the provider's one reading of templated input: what counts as not given (:func:`blank`),
how a list rendered as text is read (:func:`parse_list_text`) and how an argument naming ids
becomes a list of them (:func:`id_list`).
"""

from __future__ import annotations

from collections.abc import Mapping
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


def id_text_or_none(value: Any) -> str | None:
    """An id as text: a string, an integer (the spec types some ids as int64), or a float with an
    integer value (as a JSON reader may give one); ``None`` for ``None``, ``""`` and anything else
    (a boolean, an object, a list).

    The one reading of a value that should be an id, from an answer or an argument. It does not
    check the text for use in a URL: :func:`usable_id` does.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


def usable_id(value: Any) -> str | None:
    """An id as text (:func:`id_text_or_none`) that is usable in a URL path (:func:`id_problem`),
    or ``None``: for ids an answer names, which are shown or used only when they are ids."""
    text = id_text_or_none(value)
    return None if text is None or id_problem(text) else text


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


def id_list(
    value: Any, name: str, *, optional: bool = False, mappings: bool = True, commas: bool = True
) -> list[str]:
    """Read an argument that names ids: one id, a list of them, or a list rendered as text.

    The one reader of id lists of every operator (and of the report's selection). Ids come back as
    stripped strings, in their order, each once (a repeated id is dropped, case kept: ``"a"`` and
    ``"A"`` are two ids). Each is checked as :func:`check_id` does, before any request is made.

    - A list, tuple or set of strings and integers; one string or integer is a list of one.
    - A text starting with ``[`` is a JSON list or a Python list literal (:func:`parse_list_text`).
    - With ``mappings``, a mapping gives its values (e.g. the ``{person: id}`` result of an
      upstream task), also as JSON text starting with ``{``.
    - With ``commas``, any other text is ids separated by commas; without, it is one id.

    :param name: the argument, as errors name it.
    :param optional: whether the argument may be left out: a :func:`blank` value (or item) then
        names no id. A required argument left blank is refused; an empty list is a list of no ids.
    :raises LearnifierInputError: naming ``name``, for a value that is none of the above, text
        that does not parse, or an item that is not a usable id.
    """
    from airflow_provider_learnifier.exceptions import LearnifierInputError

    if blank(value):
        if optional:
            return []
        raise LearnifierInputError(f"{name} must name the ids; it was not given (rendered {value!r})")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") or (mappings and text.startswith("{")):
            try:
                value = parse_list_text(text)
            except ValueError as error:
                raise LearnifierInputError(
                    f"{name} {text!r:.80} is neither one id nor a list of ids: {error}"
                ) from None
        elif commas:
            value = [part for part in text.split(",") if part.strip()]
        else:
            value = [text]
    if mappings and isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise LearnifierInputError(f"{name} must be an id or a list of ids, not {type(value).__name__}")
    ids: dict[str, None] = {}
    for item in value:
        if optional and blank(item):
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise LearnifierInputError(f"{name} holds {_shown(item)}, which is not an id")
        text = str(item).strip()
        problem = id_problem(text)
        if problem:
            raise LearnifierInputError(
                f"{name} holds {_shown(item)}, which is not a valid Learnifier id: {problem}"
            )
        ids.setdefault(text)
    return list(ids)


def _shown(value: Any, limit: int = 80) -> str:
    """An item as an error shows it: its repr, on one line, cut short."""
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
