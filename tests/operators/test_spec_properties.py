"""Property-based tests: the operators' invariants under every answer Learnifier's spec permits.

Each example starts a simulator whose answers vary at random in every way the spec allows
(:class:`~learnifier_simulator.variants.SpecVariants`: short ``GET /users``
pages, ignored undeclared fields, extra members, ids as numbers or strings, any 2xx, optional
members left out, shuffled lists) and, in some examples, random faults (5xx answers, connections
dropped before or after the change was made). Whatever happens, these must hold:

- nobody on the roster is removed, and nobody is enrolled, activated or updated as another person;
- one user per person, one participant per user, at most one activation request per participant;
- a person who did not fail is enrolled (and activated);
- rerunning project creation makes one project;
- the progress report equals the state.

``make test`` runs a few examples of each (the ``dev`` profile of ``tests/conftest.py``); CI's
property stage runs more (``HYPOTHESIS_PROFILE=ci``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

from hypothesis import event, given, settings
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierError
from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from airflow_provider_learnifier.operators.participants import LearnifierEnrollOperator
from learnifier_simulator import FaultConfig, LearnifierSimulator, seed
from tests.operators.variants import faults, variants

if TYPE_CHECKING:
    import pytest

    from learnifier_simulator.variants import SpecVariants


CONNECTION_VARIABLE = "AIRFLOW_CONN_LEARNIFIER_DEFAULT"
#: Retry at once: the faults here are about what is applied, not about waiting.
FAST_RETRIES = {"backoff_factor": 0.001, "max_retries": 3}
PROJECT = seed.DEMO_PROJECT_ID


@contextmanager
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[LearnifierSimulator]:
    """A fresh demo simulator over plain HTTP on loopback, set up before variants and faults start."""
    with LearnifierSimulator(seed="demo", tls=False) as sim:
        monkeypatch.setenv(CONNECTION_VARIABLE, sim.connection_json(extra=FAST_RETRIES))
        yield sim


def _start(sim: LearnifierSimulator, spec_variants: SpecVariants, fault_config: FaultConfig | None) -> None:
    sim.variants = spec_variants
    if fault_config is not None:
        sim.faults = fault_config
    sim.clear_exchanges()


# ---------------------------------------------------------------------- people


@st.composite
def rosters(draw: Any) -> tuple[list[dict[str, str]], list[dict[str, str]], set[str]]:
    """Existing users, a roster, and the external ids of rows that name two people (they must fail).

    Existing people have an email and an external id. Roster rows name an existing or a new
    person by email, external id or both; a "swap" row joins an existing person's email (in
    another case) with a new external id. No two rows name one person.
    """
    existing = [
        {"email": f"old{n}@example.com", "external_id": f"OLD{n}"} for n in range(draw(st.integers(0, 5)))
    ]
    rows: list[dict[str, str]] = []
    swaps: set[str] = set()
    used: set[int] = set()
    for n in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["new", "existing", "swap"])) if len(used) < len(existing) else "new"
        if kind == "new":
            row = {"email": f"New{n}@Example.com"}
            if draw(st.booleans()):
                row["external_id"] = f"NEW{n}"
        else:
            index = draw(st.sampled_from(sorted(set(range(len(existing))) - used)))
            used.add(index)
            person = existing[index]
            if kind == "swap":
                row = {"email": person["email"].upper(), "external_id": f"SWAP{n}"}
                swaps.add(row["external_id"])
            else:
                form = draw(st.sampled_from(["email", "external_id", "both"]))
                row = {key: value for key, value in person.items() if form in (key, "both")}
        rows.append(row)
    return existing, rows, swaps


def _create_existing(sim: LearnifierSimulator, existing: list[dict[str, str]]) -> None:
    with LearnifierHook() as hook:
        for person in existing:
            hook.create_user(primary_email=person["email"], external_id=person["external_id"])


def _label(row: dict[str, str]) -> str:
    return row.get("external_id") or row["email"]


def _users(sim: LearnifierSimulator) -> dict[str, dict[str, Any]]:
    return {user["id"]: user for user in sim.state.snapshot()["users"]}


def _participants(sim: LearnifierSimulator) -> list[dict[str, Any]]:
    return [p for p in sim.state.snapshot()["participants"] if p["projectId"] == PROJECT]


def _is(row: dict[str, str], user: dict[str, Any]) -> bool:
    """The test's own reading of "this user is this row's person" (every identifier the row has)."""
    return (
        not row.get("email") or str(user.get("primaryEmail") or "").casefold() == row["email"].casefold()
    ) and (not row.get("external_id") or user.get("externalId") == row["external_id"])


def _enroll(roster: list[dict[str, str]], **kwargs: Any) -> dict[str, Any] | LearnifierError:
    operator = LearnifierEnrollOperator(
        task_id="enroll",
        roster=roster,
        project_external_id=seed.DEMO_PROJECT_EXTERNAL_ID,
        max_failures=len(roster),
        max_removals=None,
        **kwargs,
    )
    try:
        return operator.execute({"ti": mock.MagicMock()})
    except LearnifierError as error:  # a listing the faults made unreadable fails the task
        return error


def _assert_nobody_swapped_or_doubled(sim: LearnifierSimulator, roster: list[dict[str, str]]) -> None:
    users = _users(sim)
    emails = Counter(
        str(u.get("primaryEmail") or "").casefold() for u in users.values() if u.get("primaryEmail")
    )
    external_ids = Counter(u["externalId"] for u in users.values() if u.get("externalId"))
    assert max(emails.values(), default=1) == 1, "two users with one email"
    assert max(external_ids.values(), default=1) == 1, "two users with one external id"
    enrolled = Counter(p["userId"] for p in _participants(sim))
    assert max(enrolled.values(), default=1) == 1, "two participants of one user"
    activations = Counter(
        exchange.path
        for exchange in sim.exchanges
        if exchange.method == "POST" and exchange.path.endswith("/activate")
    )
    assert max(activations.values(), default=1) == 1, f"an activation sent twice: {activations}"


@given(people=rosters(), spec_variants=variants, fault_config=faults)
def test_enroll_and_sync_never_swap_double_or_remove_a_rostered_person(
    monkeypatch, people, spec_variants, fault_config
):
    existing, roster, swaps = people
    with simulator(monkeypatch) as sim:
        _create_existing(sim, existing)
        _start(sim, spec_variants, fault_config)

        result = _enroll(roster)

        _assert_nobody_swapped_or_doubled(sim, roster)
        users = _users(sim)
        participants = {p["userId"]: p for p in _participants(sim)}
        for user_id in participants:
            user = users[user_id]
            assert any(_is(row, user) for row in roster), f"{user} was enrolled for nobody on the roster"
        event(
            "enrollment "
            + ("failed: " + type(result).__name__ if isinstance(result, LearnifierError) else "ran")
        )
        if isinstance(result, LearnifierError):
            return
        failed = {failure["person"] for failure in result["failed"]}
        event(f"{len(failed)} of {len(roster)} row(s) failed")
        for failure in result["failed"]:
            if failure["person"] not in swaps:
                event(("no faults: " if fault_config is None else "") + failure["reason"][:90])
        assert swaps <= failed, "a row naming two people was not refused"
        for row in roster:
            if _label(row) in failed:
                continue
            (user,) = [user for user in users.values() if _is(row, user)]
            assert user["id"] in participants, f"{row} was reported enrolled but is not"
            assert participants[user["id"]]["activated"], f"{row} was reported enrolled but is not activated"

        # Sync to a part of the roster: nobody on it may be removed.
        kept = roster[: len(roster) // 2 + 1]
        before = {p["userId"] for p in _participants(sim)}
        sim.clear_exchanges()
        synced = _enroll(kept, remove_missing=True)

        _assert_nobody_swapped_or_doubled(sim, kept)
        after = {p["userId"] for p in _participants(sim)}
        for row in kept:
            for user in _users(sim).values():
                if _is(row, user) and user["id"] in before:
                    assert user["id"] in after, f"{row} is on the roster and was removed"
        if not isinstance(synced, LearnifierError) and synced.get("removal_skipped") is None:
            assert len(before - after) == len(synced["removed"])


def test_the_strategies_make_the_cases_they_promise():
    """The generator does make swaps, existing people and new ones (else the property means little)."""
    seen: Counter[str] = Counter()

    @settings(max_examples=60)
    @given(people=rosters())
    def collect(people: Any) -> None:
        _existing, roster, swaps = people
        seen["swap"] += bool(swaps)
        seen["existing"] += any(row.get("external_id", "").startswith("OLD") for row in roster)
        seen["new"] += any(row.get("email", "").startswith("New") for row in roster)

    collect()
    assert seen["swap"] and seen["existing"] and seen["new"], seen


# ---------------------------------------------------------------------- upsert users


@given(
    people=rosters(),
    spec_variants=variants,
    fault_config=faults,
    first_names=st.lists(st.sampled_from(["Ann", "Bo", "Cy"]), min_size=8, max_size=8),
)
def test_upsert_users_never_rewrites_another_person(
    monkeypatch, people, spec_variants, fault_config, first_names
):
    """Rows carry a new first name; a row either fails, or its own person (and nobody else) has it."""
    from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator

    existing, roster, swaps = people
    rows = [row | {"first_name": name} for row, name in zip(roster, first_names, strict=False)]
    with simulator(monkeypatch) as sim:
        _create_existing(sim, existing)
        before = _users(sim)
        _start(sim, spec_variants, fault_config)

        operator = LearnifierUpsertUsersOperator(task_id="upsert", users=rows, max_failures=len(rows))
        try:
            result: dict[str, Any] | None = operator.execute({"ti": mock.MagicMock()})
        except LearnifierError:
            result = None

        after = _users(sim)
        _assert_nobody_swapped_or_doubled(sim, rows)
        for user_id, user in after.items():
            old = before.get(user_id)
            if old is None or old == user:
                continue
            # A changed user must be the person of a row, and hold that row's values.
            (row,) = [row for row in rows if _is(row, old) or _is(row, user)]
            assert _is(row, user), f"user {old} was rewritten as {row}"
            assert user.get("firstName") == row["first_name"]
        if result is None:
            return
        failed = {failure["person"] for failure in result["failed"]}
        assert swaps <= failed, "a row naming two people was applied"
        for row in rows:
            if _label(row) not in failed:
                (user,) = [user for user in after.values() if _is(row, user)]
                assert user.get("firstName") == row["first_name"], f"{row} was reported done but is not"


# ---------------------------------------------------------------------- projects


@given(spec_variants=variants, fault_config=faults, runs=st.integers(2, 4))
def test_creating_a_project_again_and_again_makes_one(monkeypatch, spec_variants, fault_config, runs):
    from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator

    with simulator(monkeypatch) as sim:
        _start(sim, spec_variants, fault_config)
        outcomes = []
        for n in range(runs):
            operator = LearnifierCreateProjectOperator(
                task_id=f"create_{n}",
                name="Security 2026",
                org_id=seed.DEMO_ORG_UNIT_ID,
                design_id=seed.SECURITY_AWARENESS_DESIGN_ID,
                external_id="security-2026",
            )
            try:
                outcomes.append(operator.execute({"ti": mock.MagicMock()})["project_id"])
            except LearnifierError as error:  # a run the faults broke; the next one must not duplicate
                outcomes.append(type(error).__name__)

        made = [p for p in sim.state.snapshot()["projects"] if p["name"] == "Security 2026"]
        assert len(made) <= 1, f"{len(made)} projects after {runs} runs: {outcomes}"
        ids = {outcome for outcome in outcomes if outcome.isdigit()}
        assert ids <= {str(p["id"]) for p in made}


# ---------------------------------------------------------------------- the progress report


@given(
    spec_variants=variants.map(lambda v: dataclasses.replace(v, drop_optional=False)),
    user_lookup=st.sampled_from(["auto", "get", "scan"]),
)
def test_the_report_equals_the_state(monkeypatch, tmp_path_factory, spec_variants, user_lookup):
    """Optional members left out by the server cannot be in the report, so that variant is off here."""
    from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
    from tests.operators.test_reporting import expected_rows, read_report

    with simulator(monkeypatch) as sim:
        with LearnifierHook() as hook:
            for n in range(5):
                user_id = hook.create_user(primary_email=f"r{n}@example.com", external_id=f"R{n}")
                participant = hook.add_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, user_id=user_id)
                if n % 2:
                    hook.activate_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, participant)
        sim.advance_progress(PROJECT, activities=1)
        _start(sim, spec_variants, None)
        target = tmp_path_factory.mktemp("report") / "progress.jsonl"

        LearnifierProgressReportOperator(
            task_id="report",
            path=str(target),
            org_id=seed.DEMO_ORG_UNIT_ID,
            project_ids=[PROJECT],
            user_lookup=user_lookup,
            scan_page_size=2,
        ).execute({})

        key = lambda row: row["participant_id"]  # noqa: E731 - the order of a listing is the server's
        assert sorted(read_report(target, "jsonl"), key=key) == sorted(expected_rows(sim, [PROJECT]), key=key)


# ---------------------------------------------------------------------- nudges


@given(
    spec_variants=variants.map(lambda v: dataclasses.replace(v, drop_optional=False)),
    user_lookup=st.sampled_from(["auto", "get", "scan"]),
    scan_page_size=st.integers(1, 4),
)
def test_each_nudge_names_the_person_the_state_holds(
    monkeypatch, tmp_path_factory, spec_variants, user_lookup, scan_page_size
):
    """Whatever the user listing's pages look like, each reminder carries its own user's record.

    Optional members left out by the server cannot be in a reminder, so that variant is off here.
    """
    from datetime import timedelta

    from airflow_provider_learnifier.operators.nudges import LearnifierNudgeOperator, Reminder

    expected: dict[str, tuple[str, ...]] = {}
    with simulator(monkeypatch) as sim:
        with LearnifierHook() as hook:
            for n in range(5):
                person = (f"n{n}@example.com", f"First{n}", f"Last{n}", f"Display {n}")
                user_id = hook.create_user(
                    primary_email=person[0], first_name=person[1], last_name=person[2], display_name=person[3]
                )
                participant = hook.add_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, user_id=user_id)
                assert participant is not None
                hook.activate_participant(seed.DEMO_ORG_UNIT_ID, PROJECT, participant)
                activated = sim.now() - timedelta(days=10)
                sim.set_participant_times(participant, firstActivation=activated, lastActivation=activated)
                expected[str(participant)] = (str(user_id), *person)
        _start(sim, spec_variants, None)
        delivered: list[Reminder] = []

        LearnifierNudgeOperator(
            task_id="nudge",
            selector={
                "org_id": str(seed.DEMO_ORG_UNIT_ID),
                "project_ids": [str(PROJECT)],
                "states": {"not_started": {"days": 7}},
            },
            ledger_path=str(tmp_path_factory.mktemp("ledger")),
            deliver=delivered.append,
            user_lookup=user_lookup,
            scan_page_size=scan_page_size,
        ).execute({"logical_date": sim.now()})

        fields = ("user_id", "email", "first_name", "last_name", "display_name")
        got = [(r.participant_id, tuple(r.person[f] for f in fields)) for r in delivered]
        assert dict(got) == expected and len(got) == len(expected)
