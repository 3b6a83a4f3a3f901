"""Ids as the provider checks them before putting them in a request path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierInputError
from airflow_provider_learnifier.ids import (
    MAX_ID_LENGTH,
    blank,
    check_id,
    id_list,
    id_problem,
    id_text_or_none,
    int_like,
    parse_list_text,
    usable_id,
)

#: Characters that cannot change a URL path's meaning: what a usable id is made of here.
SAFE_ALPHABET = st.characters(
    min_codepoint=33, max_codepoint=0xFFFF, blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")
).filter(lambda ch: ch not in "/\\." and not ch.isspace())


@pytest.mark.parametrize(
    "text", ["3001", "u-1", "Abc_DEF", "a.b", "user@example.com", "Åsa", "x" * MAX_ID_LENGTH]
)
def test_usable_ids_have_no_problem(text):
    assert id_problem(text) is None
    assert check_id("user_id", text) == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "it is empty"),
        ("x" * (MAX_ID_LENGTH + 1), f"more than the {MAX_ID_LENGTH} an id may have"),
        ("a/b", "slash"),
        ("a\\b", "slash"),
        ("..", "dot segment"),
        ("a..b", "dot segment"),
        (".", "dot segment"),
        ("a b", "white space"),
        ("a\tb", "white space"),
        ("a\u2003b", "white space"),
        ("a\x00b", "control characters"),
        ("a\x7fb", "control characters"),
        ("a\ud800b", "lone surrogate"),
    ],
)
def test_ids_that_would_change_the_path_are_named_with_their_problem(text, problem):
    assert problem in (id_problem(text) or "")
    with pytest.raises(ValueError, match="project_id") as refused:
        check_id("project_id", text)
    assert "not a valid Learnifier id" in str(refused.value) or "must not be empty" in str(refused.value)


def test_integers_become_their_text_and_case_is_kept():
    assert check_id("org_id", 1001) == "1001"
    assert check_id("org_id", 0) == "0"
    assert check_id("user_id", "AbC") != check_id("user_id", "abc")


@pytest.mark.parametrize("value", [None, True, False, 1.5, ["1"], {"id": 1}, b"1"])
def test_values_that_are_neither_text_nor_integers_are_refused(value):
    with pytest.raises(
        ValueError, match=f"user_id must be a string or an integer, not {type(value).__name__}"
    ):
        check_id("user_id", value)


def test_an_overlong_id_is_shown_shortened_in_the_error():
    text = "y" * 1000
    with pytest.raises(ValueError) as refused:
        check_id("user_id", text)
    assert "1000 characters long" in str(refused.value)
    assert text not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1001", 1001), (" 1001 ", 1001), (1001, 1001), ("10a", "10a"), ("-1", "-1"), ("", ""), (None, None)],
)
def test_int_like_turns_digit_text_into_a_number_and_leaves_the_rest(value, expected):
    assert int_like(value) == expected
    assert type(int_like(value)) is type(expected)


@given(st.text(SAFE_ALPHABET, min_size=1, max_size=MAX_ID_LENGTH))
def test_any_text_of_safe_characters_is_an_id_unchanged(text):
    assert check_id("user_id", text) == text


@given(st.text(max_size=40), st.sampled_from(["/", "\\", "..", " ", "\n", "\x00"]), st.text(max_size=40))
def test_no_id_with_a_path_changing_part_passes(prefix, part, suffix):
    with pytest.raises(ValueError):
        check_id("user_id", prefix + part + suffix)


@pytest.mark.parametrize("value", [None, "", "   ", "None", " None "])
def test_an_empty_rendering_is_not_given(value):
    assert blank(value)


@pytest.mark.parametrize("value", ["0", "none", "null", "x", 0, [], False])
def test_anything_else_is_given(value):
    assert not blank(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["a", "b,c"]', ["a", "b,c"]),
        ("['a', 12]", ["a", 12]),
        ('{"x": 1}', {"x": 1}),
        ("[1, 2.5]", [1, 2.5]),
    ],
)
def test_a_list_rendered_as_text_is_read_as_json_or_as_a_python_literal(text, expected):
    assert parse_list_text(text) == expected


@pytest.mark.parametrize("text", ["[a, b", "[open(0)]", "not a list"])
def test_text_that_is_neither_json_nor_a_literal_is_refused_with_json_s_reason(text):
    with pytest.raises(ValueError, match="line 1 column"):
        parse_list_text(text)


# ---------------------------------------------------------------------- id lists


#: Ids as an id list reads them back: usable, no commas (they separate ids in comma text).
LIST_ID = st.one_of(
    st.text(SAFE_ALPHABET.filter(lambda ch: ch not in ",[{"), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=2**63 - 1),
)


@given(st.lists(LIST_ID, max_size=12))
def test_a_list_of_ids_round_trips_as_json_text_and_as_comma_text_in_order(ids):
    expected = list(dict.fromkeys(str(item) for item in ids))
    assert id_list(ids, "user_ids") == expected
    assert id_list(json.dumps(ids), "user_ids") == expected
    assert id_list(repr(ids), "user_ids") == expected
    assert id_list(",".join(str(item) for item in ids) or "[]", "user_ids") == expected
    assert all(type(item) is str for item in id_list(ids, "user_ids"))


@given(st.lists(LIST_ID, min_size=1, max_size=8), st.data())
def test_a_repeated_id_is_kept_once_where_it_first_came(ids, data):
    repeated = ids + [data.draw(st.sampled_from(ids)) for _ in range(3)]
    assert id_list(repeated, "participant_ids") == list(dict.fromkeys(str(item) for item in ids))


@given(st.dictionaries(st.text(max_size=10), LIST_ID, max_size=8))
def test_a_mapping_gives_its_values_also_as_json_text(mapping):
    expected = list(dict.fromkeys(str(item) for item in mapping.values()))
    assert id_list(mapping, "participant_ids") == expected
    assert id_list(json.dumps(mapping), "participant_ids") == expected


def test_ids_keep_their_case_and_lose_surrounding_space():
    assert id_list(" a, A ,a,, b ", "user_ids") == ["a", "A", "b"]
    assert id_list(["u-1", 7, " u-1 "], "user_ids") == ["u-1", "7"]


@pytest.mark.parametrize("value", [None, "", "  ", "None"])
def test_a_required_list_left_blank_is_refused_naming_it(value):
    with pytest.raises(LearnifierInputError, match="user_ids must name the ids; it was not given"):
        id_list(value, "user_ids")


@pytest.mark.parametrize("value", [[], "[]", "{}", {}, ()])
def test_an_empty_list_is_a_list_of_no_ids(value):
    assert id_list(value, "user_ids") == []


@pytest.mark.parametrize("value", [None, "", "None", ["None", None, " "], [], "[]"])
def test_an_optional_list_left_blank_names_no_id(value):
    assert id_list(value, "project_ids", optional=True, mappings=False, commas=False) == []


def test_without_commas_a_text_is_one_id_and_without_mappings_a_mapping_is_refused():
    options = {"optional": True, "mappings": False, "commas": False}
    assert id_list("sales,q1", "project_external_ids", **options) == ["sales,q1"]
    assert id_list("{x}", "project_external_ids", **options) == ["{x}"]
    with pytest.raises(LearnifierInputError, match="must be an id or a list of ids, not dict"):
        id_list({"a": "1"}, "project_external_ids", **options)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[1, ", r"'\[1,' is neither one id nor a list of ids"),
        ("{'a': ", "neither one id nor a list of ids"),
        (object(), "must be an id or a list of ids, not object"),
        (b"1", "must be an id or a list of ids, not bytes"),
        (1.5, "must be an id or a list of ids, not float"),
        ([None], "holds None, which is not an id"),
        ([True], "holds True, which is not an id"),
        ([2001.0], "holds 2001.0, which is not an id"),
        ([["1"]], r"holds \['1'\], which is not an id"),
        (["a/b"], "holds 'a/b', which is not a valid Learnifier id: it contains a slash"),
        (["ok", "bad\ud800id"], "lone surrogate"),
        ("a, b c", "holds ' b c', which is not a valid Learnifier id: it contains white space"),
    ],
)
def test_what_is_not_a_list_of_usable_ids_is_refused_naming_the_argument(value, message):
    with pytest.raises(LearnifierInputError, match=message) as refused:
        id_list(value, "user_ids")
    assert str(refused.value).startswith("user_ids ")


@given(
    st.lists(LIST_ID, max_size=5),
    st.sampled_from(["a/b", "..", "x y", "\x00"]),
    st.lists(LIST_ID, max_size=5),
)
def test_no_list_with_an_unusable_id_passes(before, bad, after):
    with pytest.raises(LearnifierInputError, match="not a valid Learnifier id"):
        id_list([*before, bad, *after], "user_ids")


@given(st.one_of(st.text(min_size=1), st.integers()))
def test_an_id_as_text_is_the_string_or_the_integer_written_out(value):
    assert id_text_or_none(value) == str(value)


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_a_float_with_an_integer_value_is_the_integer_as_text(number):
    assert id_text_or_none(float(number)) == str(number)


@pytest.mark.parametrize("value", [None, "", True, False, 1.5, float("nan"), float("inf"), [], {}, {"id": 1}])
def test_what_is_no_id_gives_none(value):
    assert id_text_or_none(value) is None
    assert usable_id(value) is None


@given(st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_a_usable_id_is_an_id_as_text_without_a_problem(value):
    text = id_text_or_none(value)
    expected = text if text is not None and id_problem(text) is None else None
    assert usable_id(value) == expected
    if expected is not None:
        assert check_id("user_id", expected) == expected
