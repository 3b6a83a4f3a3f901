"""The assignment policy model: reading, the JSON Schema, checking, selecting, and the CLI.

No server here: what a policy selects from a roster, and how a broken policy is named. The
operators that plan and apply policies are tested in ``tests/operators/test_policy.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from airflow_provider_learnifier.operators._roster import read_roster
from airflow_provider_learnifier.policy import (
    SCHEMA_PATH,
    PolicyError,
    course_keys,
    load_policy,
    select,
    validate_policy,
)
from airflow_provider_learnifier.policy.__main__ import main

REFERENCE = dt.date(2026, 6, 1)

POLICY_YAML = """\
version: 1
courses:
  - project_external_id: acme-security-awareness-2026   # everyone
    who: all
    remove: true
  - project_external_id: acme-sales-onboarding
    who:
      department: [Sales, Presales]
      hire_date: {after: -90d}
  - project_external_id: acme-people-leaders
    who:
      role: {matches: "(?i)manager|lead"}
      not: {country: US}
    activate: false
"""

ROSTER_CSV = """\
Email,Department,Hire Date,Role,Country
ada@acme.example,Sales,2026-05-01,Account Manager,SE
bo@acme.example,Presales,2026-03-03,Engineer,US
cy@acme.example,Sales,2026-03-02,Team Lead,US
di@acme.example,Finance,2019-01-01,Team lead,DE
"""


def chosen(policy: Any, roster: Any = ROSTER_CSV, reference: dt.date = REFERENCE) -> dict[str, list[str]]:
    read = read_roster(roster)
    selection = select(validate_policy(policy, roster=read), read, reference)
    return {key: [person.label for person in people] for key, people in selection.chosen.items()}


def problems(policy: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        validate_policy(policy, **kwargs)
    return raised.value.messages


# ---------------------------------------------------------------------- reading


def test_the_issue_example_selects_as_it_reads(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    assert chosen(str(path)) == {
        "acme-security-awareness-2026": [
            "ada@acme.example",
            "bo@acme.example",
            "cy@acme.example",
            "di@acme.example",
        ],
        # After -90d is on or after 2026-03-03.
        "acme-sales-onboarding": ["ada@acme.example", "bo@acme.example"],
        "acme-people-leaders": ["ada@acme.example", "di@acme.example"],
    }
    assert course_keys(path) == [
        "acme-security-awareness-2026",
        "acme-sales-onboarding",
        "acme-people-leaders",
    ]


def test_a_dict_a_yaml_text_a_json_text_and_a_file_give_one_policy(tmp_path):
    document = load_policy(POLICY_YAML)
    (tmp_path / "policy.json").write_text(json.dumps(document))
    sources = [document, POLICY_YAML, json.dumps(document), tmp_path / "policy.json"]
    digests = {validate_policy(source).digest for source in sources}
    assert len(digests) == 1


def test_yaml_dates_are_read_as_text():
    policy = load_policy(
        "version: 1\ncourses:\n  - project_external_id: x\n    who: {start: {after: 2026-01-01}}\n"
    )
    assert policy["courses"][0]["who"]["start"]["after"] == "2026-01-01"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/nonexistent/policy.yaml", "the policy file /nonexistent/policy.yaml does not exist"),
        ("version: 1\ncourses: [\n", "is not valid YAML"),
        ("- a\n- b\n", "holds a list, not a mapping"),
        (42, "a policy is a dict, a YAML text or a file path, not int"),
    ],
)
def test_an_unreadable_policy_is_named(source, expected):
    assert expected in "\n".join(problems(source))


def test_the_schema_ships_with_the_package_and_is_a_valid_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["course"]["additionalProperties"] is False


# ---------------------------------------------------------------------- checking


def _policy(who: Any, **course: Any) -> dict[str, Any]:
    return {"version": 1, "courses": [{"project_external_id": "c1", "who": who, **course}]}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"version": 2, "courses": []}, "policy: version: 1 was expected"),
        ({"version": 1, "courses": [], "extra": 1}, "policy: unknown key(s) 'extra'"),
        (_policy("all", remvoe=True), "course 1 (c1): unknown key(s) 'remvoe'"),
        (
            _policy({"department": {"equal": "Sales"}}),
            "course 1 (c1): who.department: unknown key(s) 'equal'",
        ),
        (_policy("everyone"), 'course 1 (c1): who: "everyone" is not a selector'),
        (_policy({"any": {"department": "Sales"}}), "course 1 (c1): who.any:"),
        (
            _policy({"role": {"matches": "(a"}}),
            "course 1 (c1): who.role.matches: '(a' is not a valid regular",
        ),
        (
            _policy({"hire_date": {"after": "90 days ago"}}),
            "course 1 (c1): who.hire_date.after: '90 days ago'",
        ),
        (
            _policy({"hire_date": {"before": "2026-13-01"}}),
            "who.hire_date.before: '2026-13-01' is not a date",
        ),
        (
            _policy({"department": {"ignore_case": True}}),
            "who.department.ignore_case: applies to equals and in",
        ),
        (_policy("all", max_removals=1.5), "course 1 (c1): max_removals:"),
        (
            {"version": 1, "courses": [{"project_id": 5, "who": "all"}]},
            "course 1 (?/5): name the project by project_external_id, or by org_id and project_id",
        ),
        (
            {"version": 1, "courses": [{"project_external_id": "c1", "who": "all"}] * 2},
            "course 2 (c1): names the project 'c1' that course 1 (c1) names already",
        ),
    ],
)
def test_each_problem_names_the_course_and_the_key(policy, expected):
    found = problems(policy)
    assert any(expected in problem for problem in found), found


def test_every_problem_is_named_at_once():
    policy = {
        "version": 1,
        "courses": [
            {"project_external_id": "a", "who": "all", "remvoe": True},
            {"project_external_id": "b", "who": {"role": {"matches": "(x"}}},
            {"project_external_id": "c", "who": {"start": {"after": "-3x"}}},
        ],
    }
    found = problems(policy)
    assert len(found) == 3, found
    assert [problem.split(":")[0] for problem in found] == ["course 1 (a)", "course 2 (b)", "course 3 (c)"]


def test_a_column_the_roster_lacks_is_named_with_the_roster_s_columns():
    found = problems(_policy({"any": [{"departmnet": "Sales"}, {"Role": "x"}]}), roster=ROSTER_CSV)
    assert found == [
        "course 1 (c1): who.departmnet: the roster has no column 'departmnet' (its columns are country, "
        "department, email, hire_date, role)"
    ]


def test_column_names_are_normalized_as_the_roster_s_are():
    policy = _policy({"Hire Date": {"before": "2026-01-01"}, "DEPARTMENT": "Finance"})
    assert chosen(policy) == {"c1": ["di@acme.example"]}


# ---------------------------------------------------------------------- selecting


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("all", ["ada", "bo", "cy", "di"]),
        ("none", []),
        ({"department": "Sales"}, ["ada", "cy"]),
        ({"department": ["Sales", "Finance"]}, ["ada", "cy", "di"]),
        ({"department": {"in": ["sales"], "ignore_case": True}}, ["ada", "cy"]),
        ({"department": {"equals": "sales"}}, []),
        ({"role": {"matches": "Lead"}}, ["cy"]),
        ({"role": {"matches": "(?i)^team lead$"}}, ["cy", "di"]),
        ({"hire_date": {"after": "-90d"}}, ["ada", "bo"]),
        ({"hire_date": {"after": "2026-03-02", "before": "2026-05-01"}}, ["bo", "cy"]),
        ({"hire_date": {"before": "-13w"}}, ["di"]),  # before 2026-03-02
        ({"hire_date": {"after": "today"}}, []),
        ({"not": {"country": "US"}}, ["ada", "di"]),
        ({"any": [{"country": "DE"}, {"department": "Presales"}]}, ["bo", "di"]),
        ({"all": [{"country": "US"}, {"not": {"department": "Sales"}}]}, ["bo"]),
        ({"manager": {"present": True}}, ["bo"]),
        ({"manager": {"present": False}, "department": "Sales"}, ["ada", "cy"]),
        ({"email": {"matches": "^(ada|di)@"}}, ["ada", "di"]),
    ],
)
def test_selectors(who, expected):
    roster = ROSTER_CSV.replace("Country\n", "Country,Manager\n").replace("\n", ",\n")
    roster = roster.replace("Country,Manager,", "Country,Manager").replace("Engineer,US,", "Engineer,US,cy")
    labels = chosen(_policy(who), roster=roster)["c1"]
    assert [label.split("@")[0] for label in labels] == expected


def test_numbers_and_booleans_compare_as_roster_text():
    roster = [
        {"email": "a@x.example", "level": 3, "remote": True},
        {"email": "b@x.example", "level": "3", "remote": "false"},
        {"email": "c@x.example", "level": 4.0, "remote": "true"},
    ]
    assert chosen(_policy({"level": [3]}), roster=roster)["c1"] == ["a@x.example", "b@x.example"]
    assert chosen(_policy({"level": 4}), roster=roster)["c1"] == ["c@x.example"]
    assert chosen(_policy({"remote": True}), roster=roster)["c1"] == ["a@x.example", "c@x.example"]


def test_a_cell_a_date_test_cannot_read_makes_the_row_invalid():
    roster = read_roster(
        [
            {"email": "a@x.example", "start": "2026-05-01T09:00:00Z"},
            {"email": "b@x.example", "start": "01/05/2026"},
            {"email": "c@x.example"},
        ]
    )
    policy = validate_policy(
        {
            "version": 1,
            "courses": [
                {"project_external_id": "new", "who": {"start": {"after": "-90d"}}},
                {"project_external_id": "all", "who": "all"},
            ],
        },
        roster=roster,
    )
    selection = select(policy, roster, REFERENCE)
    assert [p.label for p in selection.chosen["new"]] == ["a@x.example"]
    # An invalid row is selected by no course at all: what it means is unknown.
    assert [p.label for p in selection.chosen["all"]] == ["a@x.example", "c@x.example"]
    assert selection.invalid == [
        {
            "person": "b@x.example",
            "row": 2,
            "reason": "start '01/05/2026' is not a date (YYYY-MM-DD), and the policy compares it as one",
        }
    ]
    assert selection.unmatched == []


def test_rows_no_course_selects_are_unmatched():
    read = read_roster(ROSTER_CSV)
    selection = select(validate_policy(_policy({"department": "Sales"})), read, REFERENCE)
    assert [p.label for p in selection.unmatched] == ["bo@acme.example", "di@acme.example"]


def test_a_course_is_found_by_key_name_or_position():
    policy = validate_policy(
        {
            "version": 1,
            "courses": [
                {"project_external_id": "a", "who": "all"},
                {"org_id": 1001, "project_id": 7, "name": "Seven", "who": "all"},
            ],
        }
    )
    assert policy.course("1001/7") is policy.course("Seven") is policy.course(2) is policy.courses[1]
    assert policy.courses[1].project_external_id is None and policy.courses[1].project_id == "7"


# ---------------------------------------------------------------------- the command line


def test_the_command_line_validates_for_ci(tmp_path, capsys):
    good, bad, roster = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "people.csv"
    good.write_text(POLICY_YAML)
    bad.write_text(POLICY_YAML.replace("activate: false", "activat: false"))
    roster.write_text(ROSTER_CSV)

    assert main(["validate", str(good), "--roster", str(roster)]) == 0
    assert "good.yaml: OK (3 course(s)" in capsys.readouterr().out

    assert main(["validate", str(good), str(bad)]) == 1
    output = capsys.readouterr()
    assert "bad.yaml: INVALID" in output.err
    assert "course 3 (acme-people-leaders): unknown key(s) 'activat'" in output.err

    assert main(["validate", str(good), "--roster", str(tmp_path / "missing.csv")]) == 1


def test_the_module_runs_as_a_command(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML.replace("(?i)manager|lead", "(?i)manager|(lead"))
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_learnifier.policy", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "who.role.matches: '(?i)manager|(lead' is not a valid regular expression" in done.stderr
    schema = subprocess.run(
        [sys.executable, "-m", "airflow_provider_learnifier.policy", "schema"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(schema.stdout)["title"] == "Learnifier assignment policy"
