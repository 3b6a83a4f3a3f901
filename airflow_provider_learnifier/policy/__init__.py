"""Assignment policies: who must take which Learnifier course, declared once.

A policy is a YAML (or JSON) file, or the same structure as a dict, checked against the JSON
Schema that ships with the package (:data:`SCHEMA_PATH`). :func:`validate_policy` checks one (and
``python -m airflow_provider_learnifier.policy validate`` does in CI); the operators that plan
and apply it are in :mod:`airflow_provider_learnifier.operators.policy`. The format, with
examples: :doc:`/guides/assignment-policy`.

PyYAML and jsonschema are imported when a policy is read, not when a DAG file imports this module.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_learnifier.exceptions import LearnifierInputError
from airflow_provider_learnifier.operators._roster import PERSON_FIELDS

if TYPE_CHECKING:
    from airflow_provider_learnifier.operators._removal_limit import RemovalLimit
    from airflow_provider_learnifier.operators._roster import Person, Roster

__all__ = [
    "SCHEMA_PATH",
    "Course",
    "Policy",
    "PolicyError",
    "Selection",
    "course_keys",
    "load_policy",
    "schema",
    "select",
    "validate_policy",
]

#: The JSON Schema of the policy format, shipped with the package.
SCHEMA_PATH = Path(__file__).with_name("schema.json")

#: The most characters of a policy file or text read.
MAX_POLICY_BYTES = 1_000_000

_COMBINATORS = ("all", "any", "not")
_RELATIVE_DATE = re.compile(r"^([+-]?)(\d{1,5})([dw])$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")


class PolicyError(LearnifierInputError):
    """A policy that cannot be used; ``problems`` holds one message per problem found.

    :param problems: what is wrong, each naming the course and the key.
    """

    def __init__(self, problems: Sequence[str], *, source: str = "the policy") -> None:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{lines}")
        self.messages = list(problems)


# ---------------------------------------------------------------------- reading


def schema() -> dict[str, Any]:
    """The policy format's JSON Schema, as a dict."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def load_policy(source: Any) -> dict[str, Any]:
    """Read a policy: a dict, a YAML or JSON text, or the path of a YAML or JSON file (local, a
    :class:`pathlib.Path`, or an :class:`~airflow.sdk.ObjectStoragePath` for a URL).

    Dates that YAML reads as dates are given back as ``YYYY-MM-DD`` text. Nothing is checked
    beyond that the source holds a mapping: that is :func:`validate_policy`'s work.

    :raises PolicyError: when the source cannot be read or parsed.
    """
    if isinstance(source, Policy):
        return source.document
    if isinstance(source, Mapping):
        return _plain(source)
    where = "the policy text"
    if isinstance(source, bytes):
        source = source.decode("utf-8-sig")
    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        text = source
    elif isinstance(source, str) or hasattr(source, "read_bytes"):
        path = _path(source)
        where = f"the policy file {path}"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PolicyError([f"{where} does not exist"], source=where) from None
        except OSError as error:
            raise PolicyError([f"{where} cannot be read: {error}"], source=where) from None
        if len(data) > MAX_POLICY_BYTES:
            raise PolicyError([f"{where} is larger than {MAX_POLICY_BYTES} bytes"], source=where)
        text = data.decode("utf-8-sig", errors="replace")
    else:
        raise PolicyError([f"a policy is a dict, a YAML text or a file path, not {type(source).__name__}"])
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError([f"{where} is not valid YAML: {error}"], source=where) from None
    if not isinstance(document, Mapping):
        raise PolicyError([f"{where} holds a {type(document).__name__}, not a mapping"], source=where)
    return _plain(document)


def _path(source: Any) -> Any:
    if not isinstance(source, str):
        return source
    text = source.strip()
    if "://" in text:
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath(text)
    return Path(text).expanduser()


def _plain(value: Any) -> Any:
    """A copy with dates as ISO text and mappings as dicts (YAML reads ``2026-01-01`` as a date)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# ---------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Condition:
    """One column's condition, compiled."""

    column: str
    equals: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    after: str | None = None
    before: str | None = None
    present: bool | None = None
    ignore_case: bool = False

    def holds(self, person: Person, reference: dt.date) -> bool:
        """Tell whether the person's column meets the condition.

        :raises ValueError: when a date test meets a cell that is not a date.
        """
        return self.predicate(reference)(person)

    def predicate(self, reference: dt.date) -> Callable[[Person], bool]:
        """The condition as a function of a person, its relative dates resolved from ``reference``."""
        column, equals, pattern, present, fold = (
            self.column,
            self.equals,
            self.pattern,
            self.present,
            self.ignore_case,
        )
        after = resolve_date(self.after, reference) if self.after is not None else None
        before = resolve_date(self.before, reference) if self.before is not None else None
        dated = after is not None or before is not None
        tests_value = equals is not None or pattern is not None or dated

        def holds(person: Person) -> bool:
            value = column_value(person, column)
            if present is not None and (value is not None) != present:
                return False
            if value is None:
                return not tests_value
            text = value if type(value) is str else _comparable_text(value)
            if equals is not None and (text.casefold() if fold else text) not in equals:
                return False
            if pattern is not None and not pattern.search(text):
                return False
            if dated:
                day = roster_date(value)
                if day is None:
                    raise ValueError(
                        f"{column} {text[:40]!r} is not a date (YYYY-MM-DD), and the policy compares "
                        "it as one"
                    )
                if (after is not None and day < after) or (before is not None and day >= before):
                    return False
            return True

        return holds


@dataclass(frozen=True)
class Selector:
    """A compiled ``who``: ``kind`` is ``everyone``, ``nobody``, ``and``, ``or`` or ``not``."""

    kind: str
    conditions: tuple[Condition, ...] = ()
    parts: tuple[Selector, ...] = ()

    def holds(self, person: Person, reference: dt.date) -> bool:
        """Tell whether the selector selects the person."""
        return self.predicate(reference)(person)

    def predicate(self, reference: dt.date) -> Callable[[Person], bool]:
        """The selector as a function of a person (built once per plan: a plan asks it often)."""
        if self.kind == "everyone":
            return lambda person: True
        if self.kind == "nobody":
            return lambda person: False
        tests = [condition.predicate(reference) for condition in self.conditions]
        tests += [part.predicate(reference) for part in self.parts]
        if self.kind == "not":
            (inner,) = tests
            return lambda person: not inner(person)
        if self.kind == "or":
            return lambda person: any(test(person) for test in tests)
        if len(tests) == 1:
            return tests[0]

        return lambda person: all(test(person) for test in tests)

    def columns(self) -> list[str]:
        """The roster columns the selector reads, in order."""
        names = [condition.column for condition in self.conditions]
        for part in self.parts:
            names.extend(part.columns())
        return list(dict.fromkeys(names))

    def date_columns(self) -> list[str]:
        """The columns the selector compares as dates."""
        names = [c.column for c in self.conditions if c.after is not None or c.before is not None]
        for part in self.parts:
            names.extend(part.date_columns())
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Course:
    """One course of a policy.

    :param key: how the course is named: its project external id, or ``org_id/project_id``.
    :param position: its 1-based place among the policy's courses.
    """

    position: int
    key: str
    name: str
    project_external_id: str | None
    org_id: str | None
    project_id: str | None
    who: Selector
    activate: bool
    remove: bool
    max_removals: RemovalLimit | None
    document: Mapping[str, Any] = field(compare=False, repr=False, default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name the course: ``course 2 (acme-sales-onboarding)``."""
        return f"course {self.position} ({self.name})"


@dataclass(frozen=True)
class Policy:
    """A checked policy: its courses and its policy-wide removal limit.

    :param document: the policy as read (plain JSON types).
    """

    courses: tuple[Course, ...]
    max_total_removals: int | None
    document: dict[str, Any] = field(repr=False)

    @property
    def digest(self) -> str:
        """A SHA-256 of the policy's canonical JSON: equal for equal policies, whatever their layout."""
        return hashlib.sha256(canonical_json(self.document).encode()).hexdigest()

    def course(self, key: str | int) -> Course:
        """The course named ``key``: its key (project external id or ``org_id/project_id``), its
        ``name``, or its 1-based position.

        :raises LearnifierInputError: when no course is named so.
        """
        text = str(key).strip()
        for course in self.courses:
            if text in (course.key, course.name) or text == str(course.position):
                return course
        raise LearnifierInputError(
            f"the policy has no course {text!r}; its courses are {', '.join(c.key for c in self.courses)}"
        )

    def columns(self) -> list[str]:
        """Every roster column the policy's selectors read."""
        names: list[str] = []
        for course in self.courses:
            names.extend(course.who.columns())
        return list(dict.fromkeys(names))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the text that digests are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# ---------------------------------------------------------------------- checking


def validate_policy(source: Any, *, roster: Any = None, columns: Iterable[str] | None = None) -> Policy:
    """Check a policy and compile it; fail on the first read, naming every problem.

    Checked: the JSON Schema (unknown keys, wrong types, a course named two ways or not at all),
    then what a schema cannot say: regular expressions compile, dates are dates, no course is
    listed twice, and (given a ``roster`` or its ``columns``) every column a selector reads is
    one of the roster's. Column names are normalized as the roster's are: ``Hire Date``,
    ``hireDate`` and ``hire-date`` are all ``hire_date``.

    :param source: the policy: see :func:`load_policy`.
    :param roster: a roster (anything the enroll operator reads), whose columns to check against.
    :param columns: the roster's column names, instead of ``roster``.
    :raises PolicyError: naming each problem's course and key.
    """
    document = load_policy(source)
    problems, bad_courses = _schema_problems(document)
    if problems:
        if bad_courses is not None:  # what a schema cannot say about the other courses
            problems.extend(_compile(document, skip=bad_courses)[1])
        raise PolicyError(sorted(problems, key=_course_order))
    policy, problems = _compile(document)
    if columns is None and roster is not None:
        from airflow_provider_learnifier.operators._roster import Roster, read_roster

        read = roster if isinstance(roster, Roster) else read_roster(roster)
        columns = read.columns if read.size else None
    if columns is not None and policy is not None:
        problems.extend(missing_columns(policy, columns))
    if problems or policy is None:
        raise PolicyError(problems)
    return policy


def _course_order(problem: str) -> int:
    """Sort problems in the order of the courses they name (the policy's own first)."""
    match = re.match(r"course (\d+)", problem)
    return int(match[1]) if match else 0


def missing_columns(policy: Policy, columns: Iterable[str]) -> list[str]:
    """Problems naming each selector column that is not among the roster's ``columns``."""
    from airflow_provider_learnifier.operators._roster import field_name

    have = {field_name(column) for column in columns}
    problems = []
    for course in policy.courses:
        for column in course.who.columns():
            if column not in have:
                problems.append(
                    f"{course.label}: who.{column}: the roster has no column {column!r} "
                    f"(its columns are {', '.join(sorted(have)) or 'none'})"
                )
    return problems


def _schema_problems(document: Mapping[str, Any]) -> tuple[list[str], set[int] | None]:
    """The schema's problems, and the courses they concern (``None``: the policy as a whole)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    problems: list[str] = []
    courses: set[int] | None = set()
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] == "courses" and isinstance(path[1], int):
            if courses is not None:
                courses.add(path[1])
        elif not (path and path[0] in ("max_total_removals", "version")):
            courses = None
        for leaf in _leaf_errors(error):
            problem = _describe_schema_error(document, leaf)
            if problem not in problems:
                problems.append(problem)
    return problems, courses


def _leaf_errors(error: Any) -> list[Any]:
    """The errors that say what is wrong: under a ``oneOf``, those of the alternative that got
    furthest into the value (a selector object with a bad key is not "not 'all'")."""
    if error.validator not in ("oneOf", "anyOf") or not error.context or _is_course_naming(error):
        return [error]
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def reach(errors: list[Any]) -> tuple[int, bool]:
        # How far into the value the alternative got, then whether the value had its type.
        depth = max(len(e.absolute_path) for e in errors)
        mistyped = any(e.validator in ("type", "enum") and len(e.absolute_path) == depth for e in errors)
        return depth, not mistyped

    deepest = max(branches.values(), key=reach)
    if sum(reach(errors) == reach(deepest) for errors in branches.values()) > 1:
        return [error]
    leaves = []
    for sub in deepest:
        leaves.extend(_leaf_errors(sub))
    return leaves


def _is_course_naming(error: Any) -> bool:
    return any("required" in branch for branch in error.schema.get("oneOf", [])) and isinstance(
        error.instance, Mapping
    )


def _describe_schema_error(document: Mapping[str, Any], error: Any) -> str:
    path = list(error.absolute_path)
    where = "policy"
    if len(path) >= 2 and path[0] == "courses" and isinstance(path[1], int):
        where = _course_label(document, path[1])
        path = path[2:]
    key = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in path).replace(
        ".[", "["
    )
    prefix = f"{where}: {key}: " if key else f"{where}: "
    if error.validator == "additionalProperties":
        unexpected = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(error.schema.get("properties", {}))
        return f"{prefix}unknown key(s) {', '.join(map(repr, unexpected))} (allowed: {allowed})"
    if _is_course_naming(error):
        return f"{prefix}name the project by project_external_id, or by org_id and project_id (one way only)"
    if error.validator == "pattern" and path and path[-1] in ("after", "before"):
        return f"{prefix}{error.instance!r} is not a date (YYYY-MM-DD, today, or a relative date: -90d, +2w)"
    if error.validator in ("oneOf", "anyOf") and path and path[-1] == "who":
        return (
            f"{prefix}{shown_value(error.instance)} is not a selector: 'all', 'none', or a mapping of "
            "columns and all/any/not"
        )
    if error.validator in ("oneOf", "anyOf"):
        return (
            f"{prefix}{shown_value(error.instance)} is not a condition: a value, a list of values, or a "
            "mapping of equals, in, matches, after, before, present, ignore_case"
        )
    return f"{prefix}{error.message}"


def shown_value(value: Any) -> str:
    """A value of the policy as an error message quotes it: short, on one line."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _course_label(document: Mapping[str, Any], index: int) -> str:
    try:
        course = document["courses"][index]
    except (KeyError, IndexError, TypeError):
        return f"course {index + 1}"
    name = None
    if isinstance(course, Mapping):
        name = course.get("name") or course.get("project_external_id")
        if name is None and course.get("project_id") is not None:
            name = f"{course.get('org_id', '?')}/{course.get('project_id')}"
    return f"course {index + 1}" + (f" ({name})" if name else "")


def _compile(document: Mapping[str, Any], *, skip: Iterable[int] = ()) -> tuple[Policy | None, list[str]]:
    from airflow_provider_learnifier.operators._removal_limit import DEFAULT_MAX_REMOVALS, RemovalLimit

    problems: list[str] = []
    defaults = document.get("defaults") or {}
    courses = []
    seen: dict[str, str] = {}
    skipped = set(skip)
    for index, raw in enumerate(document["courses"]):
        if index in skipped:
            continue
        label = _course_label(document, index)
        if raw.get("project_external_id") is not None:
            key = str(raw["project_external_id"]).strip()
            org_id = project_id = None
        else:
            org_id, project_id = str(raw["org_id"]).strip(), str(raw["project_id"]).strip()
            key = f"{org_id}/{project_id}"
        if key in seen:
            problems.append(f"{label}: names the project {key!r} that {seen[key]} names already")
        seen.setdefault(key, label)
        who = _compile_selector(raw["who"], f"{label}: who", problems)
        limit_value = raw.get("max_removals", defaults.get("max_removals", DEFAULT_MAX_REMOVALS))
        courses.append(
            Course(
                position=index + 1,
                key=key,
                name=str(raw.get("name") or key),
                project_external_id=key if org_id is None else None,
                org_id=org_id,
                project_id=project_id,
                who=who,
                activate=bool(raw.get("activate", defaults.get("activate", True))),
                remove=bool(raw.get("remove", defaults.get("remove", False))),
                max_removals=RemovalLimit.of(limit_value),
                document=raw,
            )
        )
    if problems:
        return None, problems
    policy = Policy(
        courses=tuple(courses),
        max_total_removals=document.get("max_total_removals"),
        document=dict(document),
    )
    return policy, problems


def _compile_selector(raw: Any, where: str, problems: list[str]) -> Selector:
    from airflow_provider_learnifier.operators._roster import field_name

    if raw == "all":
        return Selector("everyone")
    if raw == "none":
        return Selector("nobody")
    conditions = []
    parts = []
    for key, value in raw.items():
        if key == "not":
            parts.append(Selector("not", parts=(_compile_selector(value, f"{where}.not", problems),)))
        elif key in ("all", "any"):
            compiled = tuple(
                _compile_selector(item, f"{where}.{key}[{n}]", problems) for n, item in enumerate(value)
            )
            parts.append(Selector("and", parts=compiled) if key == "all" else Selector("or", parts=compiled))
        else:
            column = field_name(key)
            conditions.append(_compile_condition(column, value, f"{where}.{key}", problems))
    return Selector("and", conditions=tuple(conditions), parts=tuple(parts))


def _compile_condition(column: str, raw: Any, where: str, problems: list[str]) -> Condition:
    if not isinstance(raw, Mapping):
        values = raw if isinstance(raw, list) else [raw]
        return Condition(column, equals=frozenset(_comparable_text(value) for value in values))
    equals: frozenset[str] | None = None
    if "equals" in raw:
        equals = frozenset((_comparable_text(raw["equals"]),))
    if "in" in raw:
        listed = frozenset(_comparable_text(value) for value in raw["in"])
        equals = listed if equals is None else equals & listed
    if equals is not None and raw.get("ignore_case"):
        equals = frozenset(value.casefold() for value in equals)
    pattern = None
    if "matches" in raw:
        try:
            pattern = re.compile(raw["matches"])
        except re.error as error:
            problems.append(f"{where}.matches: {raw['matches']!r} is not a valid regular expression: {error}")
    for bound in ("after", "before"):
        if bound in raw and resolve_date(raw[bound], dt.date(2000, 1, 1), strict=False) is None:
            problems.append(
                f"{where}.{bound}: {raw[bound]!r} is not a date (YYYY-MM-DD, today, or a relative "
                "date such as -90d or +2w)"
            )
    if raw.get("ignore_case") and equals is None:
        problems.append(f"{where}.ignore_case: applies to equals and in, and the condition has neither")
    return Condition(
        column,
        equals=equals,
        pattern=pattern,
        after=raw.get("after"),
        before=raw.get("before"),
        present=raw.get("present"),
        ignore_case=bool(raw.get("ignore_case")),
    )


# ---------------------------------------------------------------------- values and dates


def column_value(person: Person, column: str) -> Any:
    """The person's value of a column (a person field or another roster column); ``None`` when empty."""
    if column in person.attributes:
        return person.attributes[column]
    value = getattr(person, column, None) if column in _PERSON_FIELD_NAMES else None
    return None if value == "" else value


_PERSON_FIELD_NAMES = frozenset(PERSON_FIELDS)


def _comparable_text(value: Any) -> str:
    """A roster cell or a condition's value as the text a condition compares: booleans as
    ``true``/``false``, whole floats without ``.0``, the rest as ``str`` without outer white space."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def roster_date(value: Any) -> dt.date | None:
    """A roster cell as a date: a date, or text starting ``YYYY-MM-DD`` (an ISO datetime too)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _date_of_text(str(value).strip())


@functools.lru_cache(maxsize=4096)
def _date_of_text(text: str) -> dt.date | None:
    """Text's date (cached: a roster repeats its dates)."""
    match = _ISO_DATE.match(text)
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def resolve_date(value: Any, reference: dt.date, *, strict: bool = True) -> dt.date | None:
    """A policy date: ``YYYY-MM-DD``, ``today``, or ``-90d`` / ``+2w`` from ``reference``.

    :raises ValueError: when ``strict`` and the value is none of those (else ``None``).
    """
    text = str(value).strip().lower()
    if text == "today":
        return reference
    relative = _RELATIVE_DATE.match(text)
    if relative:
        amount = int(relative[2]) * (7 if relative[3] == "w" else 1)
        return reference + dt.timedelta(days=-amount if relative[1] == "-" else amount)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = roster_date(text)
        if day is not None:
            return day
    if strict:
        raise ValueError(f"{value!r} is not a date")
    return None


# ---------------------------------------------------------------------- selecting


@dataclass(frozen=True)
class Selection:
    """Who each course selects from a roster, and the rows no course selects or that are bad.

    :param chosen: per course key, the people it selects, in roster order.
    :param unmatched: the good rows no course selects.
    :param invalid: the bad rows, each ``{"person", "row", "reason"}``: the roster's own, and
        rows whose cell a date test could not read.
    """

    chosen: dict[str, list[Person]]
    unmatched: list[Person]
    invalid: list[dict[str, Any]]


def select(policy: Policy, roster: Roster, reference: dt.date) -> Selection:
    """Evaluate every course's selector over the roster's good rows.

    A row whose cell a date test cannot read is invalid, and no course selects it.
    """
    invalid = [dict(problem) for problem in roster.problems]
    chosen: dict[str, list[Person]] = {course.key: [] for course in policy.courses}
    tests = [(course.key, course.who.predicate(reference)) for course in policy.courses]
    unmatched = []
    for person in roster.people:
        picked = []
        try:
            for key, test in tests:
                if test(person):
                    picked.append(key)
        except ValueError as error:
            invalid.append({"person": person.label, "row": person.row, "reason": str(error)})
            continue
        for key in picked:
            chosen[key].append(person)
        if not picked:
            unmatched.append(person)
    invalid.sort(key=lambda problem: problem.get("row") or 0)
    return Selection(chosen=chosen, unmatched=unmatched, invalid=invalid)


def course_keys(policy: Any) -> list[str]:
    """The keys of a policy's courses, for a mapped task: ``.expand(course=course_keys("policy.yaml"))``.

    :param policy: anything :func:`validate_policy` reads.
    """
    return [course.key for course in validate_policy(policy).courses]
