"""The at-risk page's markup: counts, the people listed, escaping, and nothing to fetch.

These tests read the HTML with the standard library's parser; tests/operators/test_at_risk_page.py
opens pages the report operator wrote in a real Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.at_risk_page import AtRiskPage, PageState

STATES = [
    PageState("not_started", "Not started", "never opened"),
    PageState("expiring", "Expiring", "ends soon"),
    PageState("in_error", "In error", "cannot open"),
    PageState("completed", "Completed", "done", at_risk=False),
]

#: Every element the page may hold: nothing that loads or runs anything.
PAGE_ELEMENTS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "main", "section",
    "div", "table", "caption", "thead", "tbody", "tr", "th", "td", "a", "bdi", "strong", "figure",
    "figcaption", "svg", "desc", "g", "text", "rect", "time", "dl", "dt", "dd",
}  # fmt: skip


class Page(HTMLParser):
    """The elements of a page, and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, css_class: str | None = None) -> list[dict[str, str | None]]:
        """The attributes of every ``tag`` element (of a CSS class), in document order."""
        return [
            found
            for name, found in self.elements
            if name == tag and (css_class is None or css_class in (found.get("class") or "").split())
        ]


def row(project: str, participant: str, **values: Any) -> dict[str, Any]:
    return {
        "org_id": "1001",
        "project_id": project,
        "project_name": f"Course {project}",
        "project_external_id": None,
        "participant_id": participant,
        "user_id": f"u{participant}",
        "user_external_id": f"E{participant}",
        "user_email": f"p{participant}@example.com",
        "activated": True,
        "activities_completed": 1,
        "activities_total": 4,
        "last_access": None,
        "expiration": "2026-03-01T00:00:00.000Z",
        "error_message": None,
        **values,
    }


AS_OF = datetime(2026, 2, 20, tzinfo=timezone.utc)


def test_counts_completion_and_people_per_course():
    page = AtRiskPage(STATES)
    page.add(row("1", "a"), ["not_started"], completed=False)
    page.add(row("1", "b"), ["not_started", "expiring"], completed=False)
    page.add(row("1", "c"), ["completed"], completed=True)
    page.add(row("1", "d", activated=False), [], completed=False)
    page.add(row("2", "e"), ["in_error"], completed=False)
    page.add_course("1001", "3", "Empty course")

    html = Page(page.render(title="Risk", generated_at=AS_OF, source="r.csv"))

    bars = [(found["data-state"], found["data-count"]) for found in html.all("rect", "value")]
    assert bars[:4] == [("not_started", "2"), ("expiring", "1"), ("in_error", "0"), ("completed", "1")]
    assert bars[4:8] == [("not_started", "0"), ("expiring", "0"), ("in_error", "1"), ("completed", "0")]
    assert [found["data-participant"] for found in html.all("tr") if found.get("data-participant")] == [
        "a",
        "b",
        "e",
    ]
    text = "".join(html.text)
    assert "33% completed: 1 of 3 activated participant(s) (4 enrolled)" in text  # d is not activated
    assert "Nobody at risk in this course." in text  # the empty course, listed all the same
    assert "Empty course" in text


def test_the_page_lists_the_people_most_at_risk_and_says_how_many_more():
    page = AtRiskPage(STATES, max_people_per_course=3)
    for number in range(10):
        page.add(
            row("1", f"n{number}", expiration=f"2026-03-{10 + number}T00:00:00.000Z"), ["not_started"], False
        )
    for number in range(4):
        page.add(
            row("1", f"e{number}", expiration=f"2026-03-0{5 - number}T00:00:00.000Z"), ["expiring"], False
        )

    html = Page(page.render(title="Risk"))

    # Not started comes before expiring in the page's order; within a state, the soonest expiry first.
    assert [found["data-participant"] for found in html.all("tr") if found.get("data-participant")] == [
        "n0",
        "n1",
        "n2",
    ]
    assert "And 11 more at risk" in "".join(html.text)


def test_a_state_not_looked_for_in_a_course_is_not_shown_as_zero():
    page = AtRiskPage(STATES)
    page.add_course("1001", "1", "Course 1", states=["in_error"])
    page.add(row("1", "a"), ["in_error"], False)

    html = Page(page.render(title="Risk"))

    assert [found["data-state"] for found in html.all("rect", "value")] == ["in_error"]
    assert "".join(html.text).count("not checked in this course") == 3


def test_the_style_sheet_is_the_only_thing_the_policy_lets_in():
    markup = AtRiskPage(STATES).render(title="Risk")
    html = Page(markup)

    (policy,) = [found["content"] for found in html.all("meta") if found.get("http-equiv")]
    style = re.search(r"<style>(.*?)</style>", markup, re.S).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy == (f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")
    assert not [found for found in html.all("link")] and not [found for found in html.all("script")]


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_a_bad_bound_is_refused(bad):
    with pytest.raises(ValueError, match="max_people_per_course"):
        AtRiskPage(STATES, max_people_per_course=bad)


def test_two_states_of_one_name_are_refused():
    with pytest.raises(ValueError, match="distinct names"):
        AtRiskPage([STATES[0], STATES[0]])


hostile_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40) | (
    st.sampled_from(
        [
            '<script>fetch("http://127.0.0.1:9/x")</script>',
            '"><img src=http://127.0.0.1:9/x onerror=alert(1)>',
            "</title><style>body{background:url(http://127.0.0.1:9/x)}</style>",
            "<svg onload=alert(1)>",
            "&lt;b&gt; &amp;",
            "\u202eevil\u202c",
        ]
    )
)


@given(name=hostile_text, email=hostile_text, external=hostile_text, participant=hostile_text)
def test_outside_text_is_only_ever_text(name, email, external, participant):
    """Whatever Learnifier sends, the page has only its own elements and shows the values as text."""
    page = AtRiskPage(STATES)
    values = {
        "project_name": name,
        "user_email": email,
        "user_external_id": external,
        "project_external_id": external,
    }
    page.add(row("1", participant, **values), ["not_started"], False)

    html = Page(page.render(title=name, source=external))

    assert {tag for tag, _ in html.elements} <= PAGE_ELEMENTS
    for _, attributes in html.elements:
        assert not [key for key in attributes if key.startswith("on")]
        assert attributes.get("href") in (None, "#course-1")
    shown = "".join(html.text)
    for value in values.values():
        if value.strip():
            assert value.replace("\r\n", "\n").replace("\r", "\n") in shown.replace("\r", "\n")
