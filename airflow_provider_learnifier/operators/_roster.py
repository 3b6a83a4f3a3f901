"""Reading and checking rosters: lists of people for the enroll and upsert-users operators.

A roster is a list of dicts (from XCom or params), a JSON or CSV text that renders to one, or the
path of a CSV, JSON or JSON Lines file: a local path, a :class:`pathlib.Path`, or any
:class:`~airflow.sdk.ObjectStoragePath` (``s3://``, ``gs://``, ``file://``...).

Column names are forgiving: ``Email``, ``primaryEmail`` and ``e-mail`` all mean ``email``;
``externalId`` and ``extid`` mean ``external_id``; ``userId`` and ``uuid`` mean ``user_id``.
Other columns (a department, say) are not person fields: the enroll operator ignores them, and
they are kept, under their normalized names, in :attr:`Person.attributes` for the selectors of an
:doc:`assignment policy </guides/assignment-policy>`. Empty cells count as absent.

The module is imported by the operators only when a task runs.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from airflow_provider_learnifier.exceptions import LearnifierInputError
from airflow_provider_learnifier.ids import id_problem, parse_list_text
from airflow_provider_learnifier.operators._base import describe_failures, shown

#: The person fields a roster row may give.
PERSON_FIELDS = (
    "email",
    "external_id",
    "user_id",
    "first_name",
    "last_name",
    "display_name",
    "locale",
    "home_org",
    "hard_lock",
)
IDENTIFIERS = ("email", "external_id", "user_id")

_ALIASES = {
    "primary_email": "email",
    "e_mail": "email",
    "mail": "email",
    "email_address": "email",
    "externalid": "external_id",
    "extid": "external_id",
    "ext_id": "external_id",
    "userid": "user_id",
    "uuid": "user_id",
    "firstname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "family_name": "last_name",
    "surname": "last_name",
    "displayname": "display_name",
    "name": "display_name",
    "homeorg": "home_org",
    "hardlock": "hard_lock",
}
#: Keys of a JSON object that may hold the roster's list.
_WRAPPER_KEYS = ("roster", "people", "users", "participants")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
_FILE_SUFFIXES = (*_CSV_SUFFIXES, *_JSON_LINES_SUFFIXES, ".json")
#: A practical check, not RFC 5322: one ``@``, no white space, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


@dataclass(frozen=True)
class Person:
    """One checked roster row.

    :param row: the row's 1-based position among the roster's rows (a CSV header is not a row).
    :param attributes: the row's other columns (a department, a hire date...), by normalized
        name (:func:`field_name`), empty cells left out.
    """

    row: int
    email: str | None = None
    external_id: str | None = None
    user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    display_name: str | None = None
    locale: str | None = None
    home_org: int | str | None = None
    hard_lock: bool | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        """How results name the person: the external id, else the email, else the user id."""
        return self.external_id or self.email or self.user_id or f"row {self.row}"

    def key(self, match_by: Sequence[str]) -> str:
        """The first of the ``match_by`` identifiers the row has, else its user id or label."""
        for name in match_by:
            value = getattr(self, name)
            if value:
                return str(value)
        return self.user_id or self.label


@dataclass(frozen=True)
class Roster:
    """A read roster: its good rows, its bad rows, the columns that were ignored, and all its
    columns by normalized name."""

    people: list[Person]
    problems: list[dict[str, Any]]
    ignored_columns: list[str]
    columns: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """How many rows the roster had, good and bad."""
        return len(self.people) + len(self.problems)


@functools.lru_cache(maxsize=1024)
def field_name(column: str) -> str:
    """Normalize a column name: ``"First Name"``, ``firstName`` and ``first-name`` give ``first_name``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column.strip())
    name = re.sub(r"[\s\-.]+", "_", name).lower().strip("_")
    return _ALIASES.get(name, name)


# ---------------------------------------------------------------------- reading


def load_rows(source: Any, *, what: str = "roster") -> list[Any]:
    """Read the raw rows of ``source``: a list of dicts, a JSON/CSV text, or a file path.

    :raises LearnifierInputError: naming the source and what is wrong with it.
    """
    if source is None:
        raise LearnifierInputError(f"no {what} given")
    if isinstance(source, Mapping):
        return _unwrap(source, what)
    if isinstance(source, (list, tuple)):
        return list(source)
    if isinstance(source, bytes):
        source = source.decode("utf-8-sig")
    if isinstance(source, str):
        text = source.strip()
        if not text:
            raise LearnifierInputError(f"the {what} is an empty string, not a list of people or a file path")
        if text[0] in "[{":
            return _parse_literal(text, what)
        if _is_text_roster(text):
            return _parse_text(text, "csv", what, f"the {what} text")
    path = roster_file(source)
    if path is not None:
        return _read_file(path, what)
    raise LearnifierInputError(
        f"the {what} must be a list of dicts, a JSON or CSV text, or the path of a CSV or JSON file, "
        f"not {type(source).__name__}"
    )


def roster_file(source: Any) -> Any | None:
    """The file that a roster source names, or ``None`` for people given inline.

    :return: a :class:`pathlib.Path`, an :class:`~airflow.sdk.ObjectStoragePath` (for a URL), or
        ``source`` itself when it is a path object; ``None`` for a list, a mapping, or a JSON or
        CSV text.
    """
    if isinstance(source, bytes):
        source = source.decode("utf-8-sig")
    if isinstance(source, str):
        text = source.strip()
        if not text or text[0] in "[{" or _is_text_roster(text):
            return None
        if "://" in text:
            from airflow.providers.common.compat.sdk import ObjectStoragePath

            return ObjectStoragePath(text)
        from pathlib import Path

        return Path(os.path.expanduser(text))
    if isinstance(source, os.PathLike) or (hasattr(source, "read_bytes") and hasattr(source, "name")):
        return source
    return None


def _is_text_roster(text: str) -> bool:
    """Several lines (any line ending), or one line that is a CSV header naming an identifier
    column: CSV text, not a file path."""
    return "\n" in text or "\r" in text or _is_header_line(text)


def _is_header_line(text: str) -> bool:
    """Tell whether one line of text is a CSV header (a roster with no rows) rather than a path:
    it names an identifier column, and holds no path separator or file name suffix."""
    if "/" in text or "\\" in text or PurePath(text).suffix.lower() in _FILE_SUFFIXES:
        return False
    cells = re.split(r"[,;\t|]", text)
    return any(field_name(cell) in IDENTIFIERS for cell in cells)


def _unwrap(value: Mapping[str, Any], what: str) -> list[Any]:
    for key in _WRAPPER_KEYS:
        if isinstance(value.get(key), list):
            return list(value[key])
    raise LearnifierInputError(
        f"the {what} is a JSON object, not a list of people; wrap the list as one of "
        f"{', '.join(repr(key) for key in _WRAPPER_KEYS)}, or give the list itself"
    )


def _parse_literal(text: str, what: str) -> list[Any]:
    """Parse a list given as text: JSON, or a Python literal (a template rendered without native types)."""
    try:
        value = parse_list_text(text)
    except ValueError as error:
        if text.startswith("{") and "\n" in text:
            return _parse_text(text, "jsonl", what, f"the {what} text")
        raise LearnifierInputError(f"the {what} text is neither JSON nor a list literal: {error}") from None
    if isinstance(value, Mapping):
        return _unwrap(value, what)
    if not isinstance(value, (list, tuple)):
        raise LearnifierInputError(f"the {what} text holds a {type(value).__name__}, not a list of people")
    return list(value)


def _read_file(path: Any, what: str) -> list[Any]:
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LearnifierInputError(f"the {what} file {where} does not exist") from None
    except IsADirectoryError:
        raise LearnifierInputError(f"the {what} path {where} is a directory, not a file") from None
    except OSError as error:
        raise LearnifierInputError(f"the {what} file {where} cannot be read: {error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LearnifierInputError(f"the {what} file {where} is not UTF-8 text: {error}") from None
    suffix = PurePath(getattr(path, "name", where)).suffix.lower()
    if suffix in _JSON_LINES_SUFFIXES:
        file_format = "jsonl"
    elif suffix == ".json":
        file_format = "json"
    elif suffix in _CSV_SUFFIXES:
        file_format = "csv"
    else:
        file_format = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    return _parse_text(text, file_format, what, f"the {what} file {where}")


def _parse_text(text: str, file_format: str, what: str, where: str) -> list[Any]:
    if file_format == "json":
        try:
            value = json.loads(text)
        except ValueError as error:
            if text.lstrip().startswith("{"):
                return _parse_text(text, "jsonl", what, where)
            raise LearnifierInputError(f"{where} is not valid JSON: {error}") from None
        if isinstance(value, Mapping):
            return _unwrap(value, what)
        if not isinstance(value, list):
            raise LearnifierInputError(f"{where} holds a JSON {type(value).__name__}, not a list of people")
        return value
    if file_format == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as error:
                raise LearnifierInputError(f"{where}: line {number} is not valid JSON: {error}") from None
        return rows
    return _parse_csv(text, where)


def _parse_csv(text: str, where: str) -> list[Any]:
    lines = text.lstrip("\r\n").splitlines()
    first_line = lines[0] if lines else ""
    if not first_line.strip():
        return []
    try:
        delimiter = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text.lstrip("\r\n"), newline=""), delimiter=delimiter)
    header = [column.strip() for column in next(reader)]
    if not any(field_name(column) in IDENTIFIERS for column in header):
        raise LearnifierInputError(
            f"{where} has no email, external_id or user_id column; its header is {header!r} "
            f"(read with delimiter {delimiter!r})"
        )
    rows: list[Any] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            rows.append(_BadRow(f"has {len(cells)} cells but the header has {len(header)} columns"))
            continue
        rows.append(dict(zip(header, cells[: len(header)], strict=False)))
    return rows


@dataclass(frozen=True)
class _BadRow:
    """A row that could not even be split into fields."""

    reason: str


# ---------------------------------------------------------------------- checking


def read_roster(source: Any, *, what: str = "roster", identifiers: Sequence[str] = IDENTIFIERS) -> Roster:
    """Read ``source`` and check every row.

    A row is bad when it is not an object, has none of ``identifiers``, has a malformed email,
    user id or boolean, or repeats the email, external id or user id of an earlier row.

    :raises LearnifierInputError: when ``source`` itself cannot be read.
    """
    raw_rows = load_rows(source, what=what)
    people: list[Person] = []
    problems: list[dict[str, Any]] = []
    ignored: dict[str, None] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(raw_rows, start=1):
        person, reason = _check_row(number, raw, identifiers, ignored)
        if person is not None and reason is None:
            reason = _duplicate_of(person, seen)
        if reason is not None:
            label = person.label if person is not None else f"row {number}"
            problems.append({"person": label, "row": number, "reason": reason})
            continue
        assert person is not None
        people.append(person)
    columns = {
        field_name(column): None
        for raw in raw_rows
        if isinstance(raw, Mapping)
        for column in raw
        if isinstance(column, str)
    }
    return Roster(people=people, problems=problems, ignored_columns=list(ignored), columns=tuple(columns))


def roster_error(roster: Roster, *, what: str = "roster", max_failures: int = 0) -> LearnifierInputError:
    """The error for a roster whose bad rows are more than ``max_failures``."""
    return LearnifierInputError(
        f"the {what} has {len(roster.problems)} bad row(s) of {roster.size} (max_failures={max_failures}); "
        f"nothing was changed:\n{describe_failures(roster.problems)}",
        problems=roster.problems,
    )


def _check_row(
    number: int, raw: Any, identifiers: Sequence[str], ignored: dict[str, None]
) -> tuple[Person | None, str | None]:
    if isinstance(raw, _BadRow):
        return None, raw.reason
    if not isinstance(raw, Mapping):
        return (
            None,
            f"is a {type(raw).__name__} ({raw!r:.60}), not an object with an email, external_id or user_id",
        )
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for column, value in raw.items():
        if not isinstance(column, str):
            return None, f"has a column name that is not text: {column!r}"
        name = field_name(column)
        if isinstance(value, str):
            value = value.strip()
        if name not in PERSON_FIELDS:
            ignored.setdefault(column)
            if value is not None and value != "":
                attributes.setdefault(name, value)
            continue
        if value is None or value == "":
            continue
        if name in values and values[name] != value:
            return None, f"gives {name} twice, as {shown(values[name])!r} and {shown(value)!r}"
        values[name] = value
    try:
        person = Person(row=number, attributes=attributes, **_typed(values))
    except ValueError as error:
        texts = {name: value for name, value in values.items() if isinstance(value, str)}
        partial = Person(
            row=number,
            email=texts.get("email"),
            external_id=texts.get("external_id"),
            user_id=texts.get("user_id"),
        )
        return partial, str(error)
    if not any(getattr(person, name) for name in identifiers):
        names = " or ".join(identifiers)
        found = ", ".join(sorted(values)) or "nothing"
        return None, f"has no {names} (it has {found})"
    return person, None


#: Learnifier keeps external ids and names to 255 characters; an email address has at most 254.
MAX_FIELD_LENGTH = 255
MAX_EMAIL_LENGTH = 254


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, value in values.items():
        if name == "hard_lock":
            typed[name] = _boolean(value)
        elif name == "home_org":
            typed[name] = _org_id(value)
        elif isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"{name} must be text, not {type(value).__name__} {shown(value)}")
        else:
            text = str(value)
            limit = MAX_EMAIL_LENGTH if name == "email" else MAX_FIELD_LENGTH
            if len(text) > limit:
                raise ValueError(f"{name} is {len(text)} characters long; at most {limit} are allowed")
            typed[name] = text
    email = typed.get("email")
    if email is not None and not _EMAIL.match(email):
        raise ValueError(f"email {shown(email)!r} is not a valid email address")
    user_id = typed.get("user_id")
    if user_id is not None and (problem := id_problem(user_id)):
        raise ValueError(f"user_id {shown(user_id)!r} is not a valid Learnifier id: {problem}")
    return typed


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"hard_lock must be true or false, not {value!r}")


def _org_id(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    raise ValueError(f"home_org must be an organization unit id (a number), not {value!r}")


def _duplicate_of(person: Person, seen: dict[tuple[str, str], int]) -> str | None:
    keys = [
        (name, value.casefold() if name == "email" else value)
        for name in IDENTIFIERS
        if (value := getattr(person, name))
    ]
    for name, value in keys:
        if (name, value) in seen:
            shown = getattr(person, name)
            return f"repeats the {name} {shown!r} of row {seen[(name, value)]}"
    for key in keys:
        seen[key] = person.row
    return None
