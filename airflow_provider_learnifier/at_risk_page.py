"""The at-risk page: a progress report as one self-contained HTML page for managers.

:class:`AtRiskPage` collects the rows of a progress report (see
:class:`~airflow_provider_learnifier.operators.reporting.LearnifierProgressReportOperator`) one by
one and renders, per course, the completion share, the participants in each state (a table and
an inline SVG chart) and the people at risk. The page loads nothing, escapes and isolates every
value from outside, and holds at most ``max_people_per_course`` people per course; see
:doc:`/guides/reporting`. Only the standard library is imported here.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_learnifier.progress import percent

#: How many people at risk a course lists on the page by default (the report lists everyone).
DEFAULT_MAX_PEOPLE_PER_COURSE = 200


@dataclass(frozen=True)
class PageState:
    """A participant state as the page shows it.

    :param name: the state's name in the report (``not_started``).
    :param label: what the page calls it (``Not started``).
    :param meaning: one sentence a manager understands (``activated 7 days ago or more, never
        opened the course``).
    :param at_risk: whether people in this state are listed among the people at risk.
    """

    name: str
    label: str
    meaning: str = ""
    at_risk: bool = True


@dataclass
class _Person:
    sort_key: tuple[Any, ...]
    row: Mapping[str, Any]
    states: tuple[str, ...]


@dataclass
class _Course:
    org_id: str
    project_id: str
    name: str | None
    external_id: str | None
    participants: int = 0
    activated: int = 0
    completed: int = 0
    at_risk: int = 0
    state_counts: dict[str, int] = field(default_factory=dict)
    people: list[_Person] = field(default_factory=list)
    #: The states looked for in this course (a selector may look for some in some courses only).
    checked: frozenset[str] = frozenset()

    @property
    def share(self) -> float:
        return self.completed / self.activated if self.activated else 0.0

    @property
    def title(self) -> str:
        return self.name or f"Project {self.project_id}"


class AtRiskPage:
    """Collect report rows and render the at-risk page.

    :param states: the states the report gives, in the order the page shows them (most urgent
        first is best: the people at risk are listed in that order).
    :param max_people_per_course: how many people at risk to list per course; the page says how
        many more there are (the report lists them all).
    """

    def __init__(
        self,
        states: Sequence[PageState],
        *,
        max_people_per_course: int = DEFAULT_MAX_PEOPLE_PER_COURSE,
    ) -> None:
        if isinstance(max_people_per_course, bool) or not isinstance(max_people_per_course, int):
            raise ValueError(f"max_people_per_course must be an integer, not {max_people_per_course!r}")
        if max_people_per_course < 0:
            raise ValueError(f"max_people_per_course must not be negative, not {max_people_per_course!r}")
        names = [state.name for state in states]
        if len(set(names)) != len(names):
            raise ValueError(f"the page's states must have distinct names, not {names!r}")
        self.states = tuple(states)
        self.max_people_per_course = max_people_per_course
        self._rank = {state.name: rank for rank, state in enumerate(self.states)}
        self._at_risk = {state.name for state in self.states if state.at_risk}
        self._courses: dict[tuple[str, str], _Course] = {}

    @property
    def courses(self) -> int:
        """How many courses the page has so far."""
        return len(self._courses)

    def add_course(
        self,
        org_id: str,
        project_id: str,
        name: str | None = None,
        external_id: str | None = None,
        *,
        states: Collection[str] | None = None,
    ) -> None:
        """Show a course, even one without participants (:meth:`add` adds a course it has not seen).

        :param states: the states looked for in this course; ``None``: all the page's. The others
            show as not checked, not as 0.
        """
        key = (org_id, project_id)
        if key not in self._courses:
            checked = frozenset(
                self._rank if states is None else (name for name in states if name in self._rank)
            )
            self._courses[key] = _Course(
                org_id,
                project_id,
                name,
                external_id,
                state_counts={state.name: 0 for state in self.states},
                checked=checked,
            )

    def add(self, row: Mapping[str, Any], states: Collection[str], completed: bool) -> None:
        """Count one report row (the keys of the report's ``COLUMNS``) in its course.

        :param states: the names of the participant's states (any of the page's, others ignored).
        :param completed: whether the participant completed the course.
        """
        self.add_course(
            row["org_id"], row["project_id"], row.get("project_name"), row.get("project_external_id")
        )
        course = self._courses[(row["org_id"], row["project_id"])]
        course.participants += 1
        if row.get("activated"):
            course.activated += 1
            course.completed += bool(completed)
        known = sorted((name for name in set(states) if name in self._rank), key=self._rank.__getitem__)
        for name in known:
            course.state_counts[name] += 1
        risky = tuple(name for name in known if name in self._at_risk)
        if not risky:
            return
        course.at_risk += 1
        if not self.max_people_per_course:
            return
        key = (self._rank[risky[0]], row.get("expiration") or "~", str(row.get("participant_id") or ""))
        course.people.append(_Person(key, dict(row), risky))
        if len(course.people) >= 2 * self.max_people_per_course:
            course.people.sort(key=lambda person: person.sort_key)
            del course.people[self.max_people_per_course :]

    def render(self, *, title: str, generated_at: datetime | None = None, source: str | None = None) -> str:
        """The page, as one HTML document.

        :param title: the page's title and heading.
        :param generated_at: the time the report describes (the run's logical date), shown on the page.
        :param source: what the page was made from (the report's file name), shown on the page.
        """
        courses = list(self._courses.values())
        for course in courses:
            course.people.sort(key=lambda person: person.sort_key)
            del course.people[self.max_people_per_course :]
        body = [
            f"<header><h1>{_escaped(title)}</h1>",
            self._intro(courses, generated_at, source),
            "</header>",
        ]
        body.append("<main>")
        body.append(self._overview(courses))
        body.extend(self._course_section(number, course) for number, course in enumerate(courses, 1))
        body.append(self._legend())
        body.append("</main>")
        return _document(title, "\n".join(body))

    # ------------------------------------------------------------------ parts

    def _intro(self, courses: list[_Course], generated_at: datetime | None, source: str | None) -> str:
        activated = sum(course.activated for course in courses)
        completed = sum(course.completed for course in courses)
        at_risk = sum(course.at_risk for course in courses)
        parts = [
            f"{len(courses)} course(s); {completed} of {activated} activated participant(s) completed "
            f"({percent(completed / activated if activated else 0.0)}); {at_risk} at risk."
        ]
        if generated_at is not None:
            parts.append(f"As of {_time(generated_at.isoformat())}.")
        if source:
            parts.append(
                f"Made from the report <bdi>{_escaped(source)}</bdi>, which lists every participant."
            )
        return f'<p class="intro">{" ".join(parts)}</p>'

    def _overview(self, courses: list[_Course]) -> str:
        rows = []
        for number, course in enumerate(courses, 1):
            rows.append(
                "<tr>"
                f'<th scope="row"><a href="#course-{number}"><bdi>{_escaped(course.title)}</bdi></a></th>'
                f'<td data-label="Participants">{course.participants}</td>'
                f'<td data-label="Activated">{course.activated}</td>'
                f'<td data-label="Completed">{course.completed}</td>'
                f'<td data-label="Completion">{percent(course.share)}</td>'
                f'<td data-label="At risk">{course.at_risk}</td>'
                "</tr>"
            )
        if not rows:
            rows.append('<tr><td colspan="6">The report has no course.</td></tr>')
        html = (
            '<section aria-labelledby="overview-heading"><h2 id="overview-heading">All courses</h2>'
            '<div class="scroll" role="region" aria-labelledby="overview-caption" tabindex="0">'
            '<table class="overview"><caption id="overview-caption">Completion and people at risk per course'
            "</caption><thead><tr>"
            '<th scope="col">Course</th><th scope="col">Participants</th><th scope="col">Activated</th>'
            '<th scope="col">Completed</th><th scope="col">Completion</th><th scope="col">At risk</th>'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
        )
        return _with_table_roles(html)

    def _course_section(self, number: int, course: _Course) -> str:
        heading = f"course-{number}-heading"
        ids = [f"project {_escaped(course.project_id)}", f"organization unit {_escaped(course.org_id)}"]
        if course.external_id:
            ids.insert(1, f"external id <bdi>{_escaped(course.external_id)}</bdi>")
        return "".join(
            [
                f'<section id="course-{number}" class="course" aria-labelledby="{heading}">',
                f'<h2 id="{heading}"><bdi>{_escaped(course.title)}</bdi></h2>',
                f'<p class="ids">{", ".join(ids)}</p>',
                f'<p class="completion"><strong>{percent(course.share)}</strong> completed: '
                f"{course.completed} of {course.activated} activated participant(s) "
                f"({course.participants} enrolled).</p>",
                '<div class="states">',
                self._state_table(number, course),
                self._chart(number, course),
                "</div>",
                self._people(number, course),
                "</section>",
            ]
        )

    def _state_table(self, number: int, course: _Course) -> str:
        rows = []
        for state in self.states:
            count = course.state_counts[state.name]
            cells = (
                f'<td data-label="Participants">{count}</td>'
                f'<td data-label="Share">{percent(_share(count, course.participants))}</td>'
                if state.name in course.checked
                else '<td colspan="2">not checked in this course</td>'
            )
            rows.append(
                f'<tr data-state="{_escaped(state.name)}">'
                f'<th scope="row">{_escaped(state.label)}</th>{cells}</tr>'
            )
        return (
            f'<table class="state-counts" id="course-{number}-states">'
            f"<caption>Participants per state in <bdi>{_escaped(course.title)}</bdi></caption>"
            '<thead><tr><th scope="col">State</th><th scope="col">Participants</th>'
            f'<th scope="col">Share of enrolled</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )

    def _chart(self, number: int, course: _Course) -> str:
        """Horizontal bars, one per state, their length the share of the course's participants."""
        label_width, plot_width, gap, bar_height = 130, 380, 10, 24
        width = label_width + plot_width + 70
        title_id, desc_id = f"course-{number}-chart-title", f"course-{number}-chart-desc"
        shown = [state for state in self.states if state.name in course.checked]
        description = "; ".join(
            f"{state.label}: {course.state_counts[state.name]} of {course.participants}" for state in shown
        )
        height = len(shown) * (bar_height + gap) + gap
        bars = []
        for index, state in enumerate(shown):
            count = course.state_counts[state.name]
            y = gap + index * (bar_height + gap)
            colour = self._rank[state.name] % 6
            length = round(plot_width * _share(count, course.participants), 2)
            bars.append(
                f'<g class="bar" data-state="{_escaped(state.name)}">'
                f'<text class="label" x="{label_width - 8}" y="{y + bar_height / 2}" text-anchor="end" '
                f'dominant-baseline="central">{_escaped(state.label)}</text>'
                f'<rect class="track" x="{label_width}" y="{y}" width="{plot_width}" height="{bar_height}"/>'
                f'<rect class="value state-{colour}" x="{label_width}" y="{y}" width="{length}" '
                f'height="{bar_height}" data-state="{_escaped(state.name)}" data-count="{count}"/>'
                f'<text class="count" x="{label_width + plot_width + 8}" y="{y + bar_height / 2}" '
                f'dominant-baseline="central">{count}</text></g>'
            )
        return (
            f'<figure class="chart"><svg role="img" aria-labelledby="{title_id} {desc_id}" '
            f'viewBox="0 0 {width} {height}" data-plot-width="{plot_width}" '
            f'data-participants="{course.participants}" preserveAspectRatio="xMinYMin meet">'
            f'<title id="{title_id}">Participants per state in {_escaped(course.title)}</title>'
            f'<desc id="{desc_id}">{_escaped(description)}</desc>{"".join(bars)}</svg>'
            f'<figcaption aria-hidden="true">Bar length: share of the {course.participants} enrolled '
            "participant(s); the table beside it gives the numbers.</figcaption></figure>"
        )

    def _people(self, number: int, course: _Course) -> str:
        caption = f"People at risk in <bdi>{_escaped(course.title)}</bdi> ({course.at_risk})"
        if not course.at_risk:
            return f'<p class="none" id="course-{number}-people">Nobody at risk in this course.</p>'
        labels = {state.name: state.label for state in self.states}
        rows = []
        for person in course.people:
            row = person.row
            who = row.get("user_email") or row.get("user_external_id") or f"user {row.get('user_id') or '?'}"
            rows.append(
                f'<tr data-participant="{_escaped(row.get("participant_id"))}">'
                f'<th scope="row" data-label="Person"><bdi>{_escaped(who)}</bdi></th>'
                f'<td data-label="Employee id">{_isolated(row.get("user_external_id"))}</td>'
                f'<td data-label="State">{_states_text(person.states, labels, row.get("error_message"))}</td>'
                f'<td data-label="Activities">{_activities(row)}</td>'
                f'<td data-label="Last access">{_time(row.get("last_access"), "never")}</td>'
                f'<td data-label="Expires">{_time(row.get("expiration"), "no expiry")}</td>'
                "</tr>"
            )
        more = course.at_risk - len(course.people)
        note = (
            f'<p class="more">And {more} more at risk: the report lists every participant with their '
            "states.</p>"
            if more
            else ""
        )
        caption_id = f"course-{number}-people-caption"
        table = _with_table_roles(
            f'<div class="scroll" role="region" aria-labelledby="{caption_id}" tabindex="0">'
            f'<table class="people" id="course-{number}-people">'
            f'<caption id="{caption_id}">{caption}</caption><thead><tr>'
            '<th scope="col">Person</th><th scope="col">Employee id</th><th scope="col">State</th>'
            '<th scope="col">Activities done</th><th scope="col">Last access</th>'
            f'<th scope="col">Expires</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        )
        return table + note

    def _legend(self) -> str:
        items = "".join(
            f"<dt>{_escaped(state.label)}</dt><dd>{_escaped(state.meaning or state.name)}"
            f"{'' if state.at_risk else ' (not at risk)'}</dd>"
            for state in self.states
        )
        return (
            '<section aria-labelledby="legend-heading"><h2 id="legend-heading">What the states mean</h2>'
            f"<dl>{items}</dl><p>A participant can be in more than one state; "
            "times are UTC.</p></section>"
        )


# ---------------------------------------------------------------------- HTML helpers


def _escaped(value: Any) -> str:
    """Outside text, escaped for HTML element content and quoted attribute values."""
    return "" if value is None else html.escape(str(value), quote=True)


#: The ARIA roles a table keeps when the phone layout shows its rows as cards (``display: block``
#: takes a table's semantics away in some screen readers). Outside text is escaped, so these tags
#: are the page's own.
_TABLE_ROLES = (
    ("<table", '<table role="table"'),
    ("<thead", '<thead role="rowgroup"'),
    ("<tbody", '<tbody role="rowgroup"'),
    ("<tr", '<tr role="row"'),
    ('scope="col"', 'scope="col" role="columnheader"'),
    ('scope="row"', 'scope="row" role="rowheader"'),
    ("<td", '<td role="cell"'),
)


def _with_table_roles(markup: str) -> str:
    for tag, with_role in _TABLE_ROLES:
        markup = markup.replace(tag, with_role)
    return markup


def _isolated(value: Any) -> str:
    """Outside text, escaped and isolated (``<bdi>``); nothing for none."""
    return f"<bdi>{_escaped(value)}</bdi>" if value not in (None, "") else ""


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _time(value: Any, missing: str = "") -> str:
    """A UTC ISO 8601 time as ``<time>``, shown to the minute; ``missing`` when there is none."""
    if not value:
        return _escaped(missing)
    text = str(value)
    shown = text[:16].replace("T", " ") + " UTC" if len(text) >= 16 and text[10:11] == "T" else text
    return f'<time datetime="{_escaped(text)}">{_escaped(shown)}</time>'


def _states_text(states: Sequence[str], labels: Mapping[str, str], error_message: Any) -> str:
    """The states of a person at risk; ``In error`` says Learnifier's reason."""
    shown = []
    for name in states:
        text = _escaped(labels[name])
        if name == "in_error" and error_message:
            text += f" (<bdi>{_escaped(error_message)}</bdi>)"
        shown.append(text)
    return ", ".join(shown)


def _activities(row: Mapping[str, Any]) -> str:
    done, total = row.get("activities_completed"), row.get("activities_total")
    if done is None or total is None:
        return "unreadable"
    return f"{_escaped(done)} of {_escaped(total)}"


_STYLE = """
:root { color-scheme: light; --ink: #1d232a; --muted: #555f6b; --line: #d4d9df; --track: #eef1f4; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; font: 16px/1.5 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #fff; overflow-wrap: break-word; }
bdi { overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .25rem; border-top: 1px solid var(--line); padding-top: 1rem; }
a { color: #0b5cad; }
a:focus, .scroll:focus { outline: 3px solid #f0b400; outline-offset: 2px; }
.ids, .intro, figcaption, .more, .none { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); }
td { font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.states { display: grid; grid-template-columns: minmax(16rem, 1fr) minmax(18rem, 1.4fr); gap: 1.5rem;
  align-items: start; }
figure { margin: .5rem 0; }
svg { width: 100%; height: auto; display: block; }
svg text { font: 14px system-ui, sans-serif; fill: var(--ink); }
svg .track { fill: var(--track); }
svg .state-0 { fill: #b3261e; } svg .state-1 { fill: #b35c00; } svg .state-2 { fill: #7a5c00; }
svg .state-3 { fill: #1f5fa8; } svg .state-4 { fill: #5b3f9e; } svg .state-5 { fill: #2e7d32; }
dt { font-weight: 600; } dd { margin: 0 0 .5rem 1rem; }
@media (max-width: 40rem) {
  body { padding: .75rem; font-size: 15px; }
  .states { grid-template-columns: 1fr; gap: 0; }
  table.people thead, table.overview thead { position: absolute; left: -9999px; }
  table.people tr, table.overview tr { display: block; border-bottom: 2px solid var(--line);
    padding: .4rem 0; }
  table.people th, table.people td, table.overview th, table.overview td { display: block;
    border: 0; padding: .1rem 0; }
  table.people td::before, table.overview td::before { content: attr(data-label) ": ";
    color: var(--muted); }
  table.people td:empty { display: none; }
  svg text { font-size: 20px; }
}
@media print { .scroll { overflow: visible; } a { color: inherit; } }
""".strip()


def _document(title: str, body: str) -> str:
    # Only this inline style sheet may apply; nothing may be fetched (default-src 'none').
    style_hash = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    policy = f"default-src 'none'; style-src 'sha256-{style_hash}'; base-uri 'none'; form-action 'none'"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{_escaped(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
