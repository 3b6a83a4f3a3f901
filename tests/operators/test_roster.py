"""Reading and checking rosters (``operators/_roster.py``): sources, column names, bad rows."""

from __future__ import annotations

import pytest

from airflow_provider_learnifier.exceptions import LearnifierInputError
from airflow_provider_learnifier.operators._roster import Person, field_name, read_roster


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("Email", "email"),
        ("E-mail", "email"),
        ("primaryEmail", "email"),
        ("externalId", "external_id"),
        ("EXTID", "external_id"),
        ("userId", "user_id"),
        ("First Name", "first_name"),
        ("lastName", "last_name"),
        ("surname", "last_name"),
        ("Department", "department"),
    ],
)
def test_column_names_are_normalized(column, field):
    assert field_name(column) == field


def test_a_comma_csv_with_quotes_unknown_columns_and_a_ragged_row(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        'email,"Last Name",department,hard_lock,home_org\n'
        'a@example.com,"O\'Neil, Jr",Sales,yes,1001\n'
        "b@example.com,B,IT,no,\n"
        "c@example.com,C,IT,no,1001,surplus\n"
    )
    roster = read_roster(str(path))

    assert roster.people == [
        Person(row=1, email="a@example.com", last_name="O'Neil, Jr", hard_lock=True, home_org=1001),
        Person(row=2, email="b@example.com", last_name="B", hard_lock=False),
    ]
    assert roster.ignored_columns == ["department"]
    assert roster.problems == [
        {"person": "row 3", "row": 3, "reason": "has 6 cells but the header has 5 columns"},
    ]


def test_a_csv_without_an_identifier_column_is_refused(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("name;department\nAda;IT\n")
    with pytest.raises(LearnifierInputError, match="no email, external_id or user_id column"):
        read_roster(path)


@pytest.mark.parametrize(
    "text",
    [
        '[{"email": "a@example.com"}]',
        "[{'email': 'a@example.com'}]",  # a list rendered by Jinja without native types
        '{"roster": [{"email": "a@example.com"}]}',
        "email\na@example.com\n",
    ],
)
def test_rosters_given_as_text(text):
    assert read_roster(text).people == [Person(row=1, email="a@example.com")]


def test_a_bad_json_lines_file_names_the_line(tmp_path):
    path = tmp_path / "people.jsonl"
    path.write_text('{"email": "a@example.com"}\n{"email": \n')
    with pytest.raises(LearnifierInputError, match="line 2 is not valid JSON"):
        read_roster(path)


def test_a_directory_is_not_a_roster(tmp_path):
    with pytest.raises(LearnifierInputError, match="is a directory"):
        read_roster(str(tmp_path))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"Email": "a@example.com", "e-mail": "b@example.com"}, "gives email twice"),
        ({"email": "a@example.com", "hard_lock": "maybe"}, "hard_lock must be true or false"),
        ({"email": "a@example.com", "home_org": "acme"}, "home_org must be an organization unit id"),
        ({"email": ["a@example.com"]}, "email must be text"),
        ({"email": "a@@example.com"}, "not a valid email address"),
        ({"email": "a@example"}, "not a valid email address"),
        ({"user_id": "a b"}, "not a valid Learnifier id"),
        ({"department": "IT"}, "has no email or external_id or user_id (it has nothing)"),
        ({"first_name": "Ada"}, "(it has first_name)"),
        (["a@example.com"], "is a list"),
    ],
)
def test_bad_rows_say_what_is_wrong(row, reason):
    roster = read_roster([row])
    assert roster.people == []
    (problem,) = roster.problems
    assert problem["row"] == 1
    assert reason in problem["reason"]


def test_duplicates_are_found_by_any_identifier():
    roster = read_roster(
        [
            {"email": "a@example.com", "external_id": "E1"},
            {"email": "b@example.com", "external_id": "E1"},
            {"email": "A@EXAMPLE.COM"},
            {"user_id": "u1"},
            {"userId": "u1", "email": "c@example.com"},
        ]
    )
    assert [person.row for person in roster.people] == [1, 4]
    assert [(p["row"], p["reason"]) for p in roster.problems] == [
        (2, "repeats the external_id 'E1' of row 1"),
        (3, "repeats the email 'A@EXAMPLE.COM' of row 1"),
        (5, "repeats the user_id 'u1' of row 4"),
    ]
    assert roster.size == 5


def test_people_are_labelled_by_external_id_then_email_then_user_id():
    assert Person(row=1, email="a@example.com", external_id="E1", user_id="u").label == "E1"
    assert Person(row=1, email="a@example.com", user_id="u").label == "a@example.com"
    assert Person(row=1, user_id="u").label == "u"
    assert Person(row=1, email="a@example.com", external_id="E1").key(["email"]) == "a@example.com"
