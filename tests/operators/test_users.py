"""LearnifierUpsertUsersOperator against the simulator: match, create, update only what changed."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest

from airflow_provider_learnifier.exceptions import LearnifierBulkOperationError, LearnifierInputError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators._writes import SETTLE_PAUSES
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator
from learnifier_simulator import seed
from learnifier_simulator.variants import SpecVariants
from tests.openapi_contract import validate_all


def users(sim: Any) -> dict[str, dict[str, Any]]:
    return {u["id"]: u for u in sim.state.snapshot()["users"]}


def _context() -> dict[str, Any]:
    return {"ti": mock.MagicMock()}


def _upsert(rows: Any, **kwargs: Any) -> dict[str, Any]:
    result = LearnifierUpsertUsersOperator(task_id="upsert", users=rows, **kwargs).execute(_context())
    assert json.loads(json.dumps(result)) == result
    return result


@pytest.fixture
def existing(learnifier_conn: Any) -> dict[str, str]:
    with LearnifierHook() as hook:
        return {
            "grace": hook.create_user(
                primary_email="grace@example.com", external_id="hr-grace", first_name="Grace"
            ),
            "linus": hook.create_user(primary_email="linus@example.com", first_name="Linus", last_name="T"),
        }


def test_upsert_creates_updates_and_leaves_alone(learnifier_conn, existing, openapi_spec):
    sim = learnifier_conn
    rows = [
        {"external_id": "hr-grace", "first_name": "Grace", "last_name": "Hopper"},  # last name changes
        {"email": "LINUS@example.com", "first_name": "Linus", "last_name": "T"},  # nothing changes
        {
            "email": "new@example.com",
            "external_id": "hr-new",
            "first_name": "New",
            "locale": "sv",
            "home_org": "1001",
        },
        {"user_id": seed.DEMO_ADMIN_USER_ID, "hard_lock": "yes"},
    ]
    result = _upsert(rows)

    assert result["user_ids"]["hr-grace"] == existing["grace"]
    assert result["user_ids"]["LINUS@example.com"] == existing["linus"]
    new_id = result["user_ids"]["hr-new"]
    assert result["user_ids"][seed.DEMO_ADMIN_USER_ID] == seed.DEMO_ADMIN_USER_ID
    assert result["created"] == ["hr-new"]
    assert result["updated"] == {"hr-grace": ["last_name"], seed.DEMO_ADMIN_USER_ID: ["hard_lock"]}
    assert result["unchanged"] == ["LINUS@example.com"]
    assert result["counts"] == {
        "rows": 4,
        "created": 1,
        "maybe_created": 0,
        "updated": 2,
        "unchanged": 1,
        "failed": 0,
    }

    state = users(sim)
    assert state[existing["grace"]]["lastName"] == "Hopper"
    assert state[new_id]["prefs"] == {"locale": "sv"} and state[new_id]["homeOrg"] == 1001
    assert state[seed.DEMO_ADMIN_USER_ID]["hardLock"] is True
    patches = [e for e in sim.exchanges if e.method == "PATCH"]
    sent = {e.path.rsplit("/", 1)[-1]: e.request_json() for e in patches}
    assert sent == {existing["grace"]: {"lastName": "Hopper"}, seed.DEMO_ADMIN_USER_ID: {"hardLock": True}}
    validate_all(openapi_spec, sim.exchanges)


def test_a_second_run_sends_nothing(learnifier_conn, existing):
    sim = learnifier_conn
    rows = [{"email": "a@example.com", "first_name": "A"}, {"external_id": "hr-grace", "first_name": "Grace"}]
    _upsert(rows)
    sim.clear_exchanges()

    result = _upsert(rows)

    assert result["unchanged"] == ["a@example.com", "hr-grace"]
    assert [e.method for e in sim.exchanges] == ["GET"]


def test_match_by_email_sets_the_external_id(learnifier_conn, existing):
    sim = learnifier_conn
    result = _upsert([{"email": "linus@example.com", "external_id": "hr-linus"}], match_by=["email"])

    assert result["updated"] == {"linus@example.com": ["external_id"]}
    assert users(sim)[existing["linus"]]["externalId"] == "hr-linus"


def test_match_by_email_never_rewrites_another_persons_external_id(learnifier_conn, existing):
    """Found by email alone, a user with another external id is another person: never rename them."""
    sim = learnifier_conn
    with pytest.raises(LearnifierBulkOperationError) as failure:
        _upsert([{"email": "grace@example.com", "external_id": "hr-other"}], match_by=["email"])

    (failed,) = failure.value.failures
    assert "'hr-grace'" in failed["reason"] and "'hr-other'" in failed["reason"]
    assert users(sim)[existing["grace"]]["externalId"] == "hr-grace"
    assert not [e for e in sim.exchanges if e.method == "PATCH"]


def test_per_row_errors_are_reported_and_the_others_done(learnifier_conn, existing):
    sim = learnifier_conn
    rows = [
        {"external_id": "hr-grace", "email": "linus@example.com"},  # the email belongs to Linus: 409
        {"email": "ok@example.com"},
        {"email": "stranger@example.com", "external_id": "hr-grace"},  # repeats row 1's external id
        {"user_id": "00000000-0000-4000-8000-000000000000", "first_name": "Ghost"},
    ]
    with pytest.raises(LearnifierInputError) as failure:
        _upsert(rows, max_failures=0)
    assert "1 bad row(s) of 4" in str(failure.value)  # caught before anything is sent
    assert len(users(sim)) == 3

    with pytest.raises(LearnifierBulkOperationError) as failure:
        _upsert(rows, max_failures=2)
    failed = {f["row"]: f["reason"] for f in failure.value.failures}
    assert set(failed) == {1, 3, 4}
    assert "conflicts with another user" in failed[1]
    assert "repeats the external_id 'hr-grace' of row 1" in failed[3]
    assert "no Learnifier user has the id" in failed[4]
    assert failure.value.summary["created"] == ["ok@example.com"]
    assert "ok@example.com" in str(users(sim))


def test_unknown_rows_are_not_created_when_asked(learnifier_conn, existing):
    with pytest.raises(LearnifierBulkOperationError, match="matches no Learnifier user"):
        _upsert([{"email": "nobody@example.com"}], create_missing=False)


def test_bad_arguments(learnifier_conn):
    with pytest.raises(ValueError, match="match_by"):
        LearnifierUpsertUsersOperator(task_id="u", users=[], match_by=["name"])
    with pytest.raises(LearnifierInputError, match="users list"):
        _upsert(3)


def test_lost_answers_do_not_duplicate_users(learnifier_conn, existing):
    sim = learnifier_conn
    sim.inject(drop="after", times=2, method="POST", path="/users")
    sim.inject(drop="after", times=1, method="PATCH", path="/users/")
    rows = [
        {"email": "one@example.com", "external_id": "hr-one"},
        {"email": "two@example.com"},
        {"external_id": "hr-grace", "last_name": "Hopper"},
    ]
    result = _upsert(rows, max_concurrency=1)

    assert result["created"] == ["hr-one", "two@example.com"]
    assert result["updated"] == {"hr-grace": ["last_name"]}
    emails = sorted(u.get("primaryEmail") for u in users(sim).values())
    assert emails == sorted(
        [
            seed.DEMO_ADMIN_EMAIL,
            "grace@example.com",
            "linus@example.com",
            "one@example.com",
            "two@example.com",
        ]
    )
    assert users(sim)[existing["grace"]]["lastName"] == "Hopper"


def test_upsert_and_group_membership_in_a_dag(learnifier_conn, run_dag, existing):
    sim = learnifier_conn
    rows = [
        {"external_id": "hr-grace", "first_name": "Grace"},
        {"email": "ann@example.com", "external_id": "hr-ann"},
        {"email": "bob@example.com", "external_id": "hr-bob"},
    ]
    dag_run = run_dag("operators_users", {"users": rows, "remove_external_ids": ["hr-bob"]})

    assert dag_run.state == "success"
    upserted = dag_run.get_task_instance("upsert").xcom_pull(task_ids="upsert")
    group = dag_run.get_task_instance("create_group").xcom_pull(task_ids="create_group")
    added = dag_run.get_task_instance("add_members").xcom_pull(task_ids="add_members")
    removed = dag_run.get_task_instance("remove_members").xcom_pull(task_ids="remove_members")
    ids = upserted["user_ids"]
    assert upserted["created"] == ["hr-ann", "hr-bob"]
    assert group["reused"] is False and group["name"] == "Course takers"
    assert added["added"] == [ids["hr-grace"], ids["hr-ann"], ids["hr-bob"]]
    assert removed == {
        "org_id": str(seed.DEMO_ORG_UNIT_ID),
        "group_id": group["group_id"],
        "removed": [ids["hr-bob"]],
        "not_members": [],
        "failed": [],
    }
    (state,) = [g for g in sim.state.snapshot()["userGroups"] if g["name"] == "Course takers"]
    assert sorted(state["members"]) == sorted([ids["hr-grace"], ids["hr-ann"]])


# ---------------------------------------------------------------------- races and lost answers


def _add_user(sim: Any, **body: Any) -> str:
    """Make a user directly in the simulator's state, as another Learnifier client would."""
    return str(sim.state.add_user(body)["userId"])


def _made_after_the_listing(mocker: Any, make: Any) -> None:
    """Run ``make`` right after the operator read its listing of users: a user made meanwhile."""
    real = LearnifierHook.iter_users

    def listing_then_make(self: LearnifierHook, **kwargs: Any) -> Any:
        listed = list(real(self, **kwargs))
        make()
        yield from listed

    mocker.patch.object(LearnifierHook, "iter_users", autospec=True, side_effect=listing_then_make)


def _writes(sim: Any) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in sim.exchanges if e.method in ("POST", "PATCH", "DELETE")]


@pytest.mark.parametrize(
    ("row", "lookups"),
    [({"external_id": "hr-five", "email": "five@example.com"}, 1), ({"email": "five@example.com"}, 0)],
    ids=["with-external-id", "email-only"],
)
def test_a_5xx_on_create_is_settled_and_the_user_made_once(learnifier_conn, existing, row, lookups):
    sim = learnifier_conn
    sim.clear_exchanges()
    sim.inject(502, times=1, method="POST", path="/users")  # answered 502, not applied

    result = _upsert([row])

    key = row.get("external_id") or row["email"]
    assert result["created"] == [key] and result["failed"] == []
    assert [u.get("primaryEmail") for u in users(sim).values()].count("five@example.com") == 1
    # Sent twice; a row with an external id was looked up in between, an email-only row cannot be.
    assert _writes(sim) == [("POST", "/users")] * 2
    assert len([e for e in sim.exchanges if e.path == "/extuser"]) == lookups


def test_a_create_applied_but_unanswered_is_not_made_twice(learnifier_conn, existing):
    sim = learnifier_conn
    sim.clear_exchanges()
    sim.inject(drop="after", times=2, method="POST", path="/users")
    rows = [{"external_id": "hr-one", "first_name": "One"}, {"email": "two@example.com", "first_name": "Two"}]

    result = _upsert(rows, max_concurrency=1)

    assert result["created"] == ["hr-one", "two@example.com"]
    assert result["updated"] == {} and result["failed"] == []
    assert [u.get("firstName") for u in users(sim).values()].count("One") == 1
    assert [u.get("primaryEmail") for u in users(sim).values()].count("two@example.com") == 1
    # hr-one was found by its external id; two@ was sent again and the 409 named the user made.
    assert _writes(sim) == [("POST", "/users"), ("POST", "/users"), ("POST", "/users")]


def test_a_5xx_on_update_is_settled_and_sent_once_more(learnifier_conn, existing):
    sim = learnifier_conn
    sim.inject(500, times=1, method="PATCH", path="/users/")  # answered 500, not applied
    rows = [{"external_id": "hr-grace", "first_name": "Grace B.", "last_name": "Hopper"}]

    result = _upsert(rows)

    assert result["updated"] == {"hr-grace": ["first_name", "last_name"]}
    state = users(sim)[existing["grace"]]
    assert (state["firstName"], state["lastName"]) == ("Grace B.", "Hopper")
    patches = [e.request_json() for e in sim.exchanges if e.method == "PATCH"]
    assert patches == [{"firstName": "Grace B.", "lastName": "Hopper"}] * 2


def test_an_update_resends_only_what_is_still_different(learnifier_conn, existing, mocker):
    sim = learnifier_conn
    sim.inject(drop="after", times=1, method="PATCH", path="/users/")
    real = LearnifierHook.get_user

    def another_admin_undoes_one_field(self: LearnifierHook, user_id: str) -> Any:
        sim.state.update_user(user_id, {"lastName": "Murray"})
        return real(self, user_id)

    mocker.patch.object(LearnifierHook, "get_user", autospec=True, side_effect=another_admin_undoes_one_field)

    result = _upsert([{"external_id": "hr-grace", "first_name": "Grace B.", "last_name": "Hopper"}])

    assert result["updated"] == {"hr-grace": ["first_name", "last_name"]}
    patches = [e.request_json() for e in sim.exchanges if e.method == "PATCH"]
    assert patches == [{"firstName": "Grace B.", "lastName": "Hopper"}, {"lastName": "Hopper"}]


def test_a_409_naming_another_person_fails_the_row_and_changes_nobody(learnifier_conn, existing, mocker):
    """A user made after the listing must not be rewritten as the row's person: a 409 is no match."""
    sim = learnifier_conn
    made: dict[str, str] = {}

    def another_client_makes_users() -> None:
        made["emp1"] = _add_user(sim, primaryEmail="emp1@example.com", externalId="EMP-1", firstName="First")
        made["late"] = _add_user(sim, primaryEmail="late@example.com", firstName="Old")

    _made_after_the_listing(mocker, another_client_makes_users)
    rows = [
        {"external_id": "EMP-2", "email": "emp1@example.com", "first_name": "Second"},
        {"email": "late@example.com", "first_name": "Late"},  # the same person: reused and updated
    ]

    with pytest.raises(LearnifierBulkOperationError) as failure:
        _upsert(rows)

    (failed,) = failure.value.failures
    assert failed["row"] == 1 and failed["person"] == "EMP-2"
    assert all(side in failed["reason"] for side in (made["emp1"], "'EMP-1'", "'EMP-2'"))
    assert "nothing was changed" in failed["reason"]
    summary = failure.value.summary
    assert summary["created"] == [] and summary["user_ids"] == {"late@example.com": made["late"]}
    assert summary["updated"] == {"late@example.com": ["first_name"]}
    emp1 = users(sim)[made["emp1"]]
    assert (emp1["externalId"], emp1["firstName"]) == ("EMP-1", "First")
    assert [e.path for e in sim.exchanges if e.method == "PATCH"] == [f"/users/{made['late']}"]


@pytest.mark.parametrize("reverse", [False, True], ids=["external-id-first", "email-first"])
@pytest.mark.parametrize("race", [False, True], ids=["in-listing", "made-after-listing"])
def test_two_rows_that_are_one_user_apply_only_the_first(learnifier_conn, mocker, race, reverse):
    """Two rows for one person: the first in roster order wins on every run; the other fails naming it."""
    sim = learnifier_conn
    made: dict[str, str] = {}

    def make() -> None:
        if "e2" not in made:
            made["e2"] = _add_user(sim, primaryEmail="bob@x.com", externalId="E2", firstName="Rob")

    if race:
        _made_after_the_listing(mocker, make)
    else:
        make()
    rows = [{"external_id": "E2", "first_name": "Robert"}, {"email": "bob@x.com", "first_name": "Bobby"}]
    if reverse:
        rows.reverse()
    first, second = (rows[0], rows[1])
    first_key = first.get("external_id") or first["email"]
    second_key = second.get("external_id") or second["email"]

    for run in range(3):
        result = _upsert(rows, max_failures=1, max_concurrency=2)

        user_id = made["e2"]
        assert result["failed"] == [
            {"person": second_key, "row": 2, "reason": f"is the same Learnifier user ({user_id}) as row 1"}
        ]
        assert result["user_ids"] == {first_key: user_id}
        assert result["created"] == []
        if run == 0:
            assert result["updated"] == {first_key: ["first_name"]}
        else:
            assert result["unchanged"] == [first_key]
        assert users(sim)[user_id]["firstName"] == first["first_name"]
    assert len([e for e in sim.exchanges if e.method == "PATCH"]) == 1


def test_a_user_created_for_a_row_that_then_fails_is_listed_as_created(learnifier_conn, existing, mocker):
    """A user created for a row that then fails exists in Learnifier: the result must list it as created."""
    sim = learnifier_conn
    sim.inject(drop="after", times=1, method="POST", path="/users")  # made, answer lost
    sim.inject(422, times=1, method="PATCH", path="/users/")
    real = LearnifierHook.get_user_by_external_id

    def another_admin_renames_it_first(self: LearnifierHook, external_id: str) -> Any:
        (user_id,) = [u["id"] for u in users(sim).values() if u.get("externalId") == external_id]
        sim.state.update_user(user_id, {"firstName": "Renamed"})
        return real(self, external_id)

    mocker.patch.object(
        LearnifierHook, "get_user_by_external_id", autospec=True, side_effect=another_admin_renames_it_first
    )

    # One row at a time: the dropped answer is the first row's (concurrent rows would race for it).
    with pytest.raises(LearnifierBulkOperationError) as failure:
        _upsert(
            [{"external_id": "hr-eve", "first_name": "Eve"}, {"email": "ok@example.com"}], max_concurrency=1
        )

    summary = failure.value.summary
    assert summary["created"] == ["hr-eve", "ok@example.com"]
    (failed,) = summary["failed"]
    (eve,) = [u for u in users(sim).values() if u.get("externalId") == "hr-eve"]
    assert failed["row"] == 1 and f"user {eve['id']} was created by this run, but" in failed["reason"]
    assert summary["counts"]["created"] == 2 and summary["counts"]["failed"] == 1


def test_a_listing_that_cannot_be_read_to_its_end_fails_the_task_before_any_write(
    learnifier_conn, existing, mocker, monkeypatch
):
    """Nothing treats a partial listing as complete: no row is created or updated from it."""
    from airflow_provider_learnifier.exceptions import LearnifierServerError

    sim = learnifier_conn
    monkeypatch.setenv("AIRFLOW_CONN_LEARNIFIER_DEFAULT", sim.connection_json({"max_retries": 0}))
    for number in range(250):
        _add_user(sim, primaryEmail=f"user{number}@example.com", externalId=f"u-{number}")
    real = LearnifierHook.iter_users

    def second_page_fails(self: LearnifierHook, **kwargs: Any) -> Any:
        for count, user in enumerate(real(self, page_size=100)):
            if count == 0:  # the first page was read: the next one meets an error
                sim.inject(500, times=1, method="GET", path="/users")
            yield user

    mocker.patch.object(LearnifierHook, "iter_users", autospec=True, side_effect=second_page_fails)
    sim.clear_exchanges()

    with pytest.raises(LearnifierServerError):
        _upsert([{"external_id": "u-249", "first_name": "Late"}, {"email": "new@example.com"}])

    assert _writes(sim) == []
    assert [e.status for e in sim.exchanges] == [200, 500]


def test_in_a_dag_a_409_naming_another_person_fails_the_task_and_adds_nobody(
    learnifier_conn, run_dag, mocker
):
    sim = learnifier_conn
    made: dict[str, str] = {}
    _made_after_the_listing(
        mocker,
        lambda: made.setdefault(
            "emp1", _add_user(sim, primaryEmail="emp1@example.com", externalId="EMP-1", firstName="First")
        ),
    )

    dag_run = run_dag(
        "operators_users",
        {"users": [{"external_id": "EMP-2", "email": "emp1@example.com", "first_name": "Second"}]},
    )

    assert dag_run.get_task_instance("upsert").state == "failed"
    assert dag_run.get_task_instance("add_members").state == "upstream_failed"
    emp1 = users(sim)[made["emp1"]]
    assert (emp1["externalId"], emp1["firstName"]) == ("EMP-1", "First")
    assert not [e for e in sim.exchanges if e.method == "PATCH" or "/members" in e.path]


def test_a_user_that_may_have_been_created_is_reported_so(learnifier_conn, existing):
    """The create was applied but its answer lost, and the resend answered 502: for a row known by
    email alone nothing can be read back. Before, the row only failed, the user made uncounted."""
    sim = learnifier_conn
    sim.inject(drop="after", times=1, method="POST", path="/users")
    sim.inject(502, times=1, method="POST", path="/users")

    result = _upsert([{"email": "maybe@example.com"}], max_failures=1)

    assert [u.get("primaryEmail") for u in users(sim).values()].count("maybe@example.com") == 1
    assert result["created"] == []
    assert result["maybe_created"] == ["maybe@example.com"]
    assert result["counts"]["maybe_created"] == 1
    (failure,) = result["failed"]
    assert "may have been created" in failure["reason"]
    again = _upsert([{"email": "maybe@example.com"}])
    assert again["failed"] == [] and again["created"] == [] and again["maybe_created"] == []
    assert [u.get("primaryEmail") for u in users(sim).values()].count("maybe@example.com") == 1


# ---------------------------------------------------------------------- a create applied late

LATE_ROWS = {
    "no-email": {"external_id": "C-1", "first_name": "Cee"},
    "with-email": {"external_id": "C-1", "email": "c1@example.com", "first_name": "Cee"},
}


def _with_external_id(sim: Any, external_id: str) -> list[dict[str, Any]]:
    return [u for u in users(sim).values() if u.get("externalId") == external_id]


def _user_creates(sim: Any) -> list[Any]:
    return [e for e in sim.exchanges if (e.method, e.path) == ("POST", "/users")]


@pytest.mark.parametrize("row", list(LATE_ROWS))
@pytest.mark.parametrize("apply_after", [2, 1000], ids=["within-the-window", "after-the-window"])
def test_a_create_applied_late_makes_one_user(learnifier_conn, mocker, row, apply_after):
    """The connection drops before the answer and Learnifier applies the create later.

    Before, a row without an email was read back once (404) and sent again: two users C-1 on a
    server that refuses a second user only for a taken email.
    """
    sim = learnifier_conn
    sim.variants = SpecVariants(duplicate_external_ids=True)  # only a taken email answers 409
    mocker.patch("airflow_provider_learnifier.operators._writes._sleep")
    sim.inject(drop="late", apply_after=apply_after, method="POST", path="/users")

    result = _upsert([LATE_ROWS[row]], max_failures=1)
    sim.apply_late_requests()

    late = apply_after > len(SETTLE_PAUSES) + 1
    if row == "no-email":
        assert len(_user_creates(sim)) == 1  # never sent again
        assert result["maybe_created"] == (["C-1"] if late else [])
        assert result["created"] == ([] if late else ["C-1"])
    else:
        assert len(_user_creates(sim)) == 2  # a second copy is refused by the email
        assert result["created"] == ["C-1"] and result["maybe_created"] == []
    assert len(_with_external_id(sim, "C-1")) == 1

    again = _upsert([LATE_ROWS[row]])

    assert again["created"] == [] and again["maybe_created"] == [] and again["failed"] == []
    assert again["unchanged"] == ["C-1"]
    assert len(_with_external_id(sim, "C-1")) == 1
