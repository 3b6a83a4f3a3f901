"""The nudge ledger: one claim per reminder, whoever asks and however they interleave."""

from __future__ import annotations

import threading
from pathlib import Path

from airflow.providers.common.compat.sdk import ObjectStoragePath
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.operators._nudge_ledger import NudgeLedger, reminder_key

KEYS = [reminder_key("1001", "2001", str(3000 + n), "not_started", "activated:x") for n in range(4)]


def ledger_at(path: Path) -> NudgeLedger:
    return NudgeLedger(ObjectStoragePath(str(path)))


def test_keys_are_file_names_whatever_the_ids_hold():
    key = reminder_key("../1001", "2001/..", "3001\n", "stalled", "last_access:2026-01-01T00:00:00.000Z")
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert key != reminder_key(
        "../1001", "2001/..", "3001\n", "stalled", "last_access:2026-01-02T00:00:00.000Z"
    )


operations = st.lists(
    st.tuples(
        st.integers(0, 2), st.sampled_from(["claim", "confirm", "release"]), st.integers(0, len(KEYS) - 1)
    ),
    max_size=40,
)


@given(steps=operations)
def test_a_reminder_is_claimed_once_until_its_claimer_releases_it(tmp_path_factory, steps):
    """Three runs' ledgers over one directory, against a model: who holds each key, and is it sent."""
    root = tmp_path_factory.mktemp("ledger")
    ledgers = [ledger_at(root) for _ in range(3)]
    holder: dict[str, int] = {}
    sent: set[str] = set()
    for who, action, index in steps:
        key = KEYS[index]
        if action == "claim":
            won = ledgers[who].claim(key, {"participant_id": str(index)})
            assert won == (key not in holder)
            if won:
                holder[key] = who
        elif action == "confirm" and holder.get(key) == who and key not in sent:
            ledgers[who].confirm(key, {"participant_id": str(index)})
            sent.add(key)
        elif action == "release":
            ledgers[who].release(key)
            if holder.get(key) == who and key not in sent:
                del holder[key]  # only the claimer's own, unsent claim goes
        for other in KEYS:
            entry = ledgers[0].get(other)
            expected = None if other not in holder else ("sent" if other in sent else "claimed")
            assert (entry and entry.status) == expected


def test_concurrent_claims_on_the_same_keys_have_one_winner_each(tmp_path):
    keys = [reminder_key("1001", "2001", str(n), "expiring", "expiration:x") for n in range(200)]
    wins: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def claim_all(who: int) -> None:
        ledger = ledger_at(tmp_path / "ledger")
        start.wait()
        wins[who] = [key for key in keys if ledger.claim(key, {"run": who})]

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    claimed = [key for won in wins for key in won]
    assert sorted(claimed) == sorted(keys)


def test_a_claim_cut_short_by_a_crash_reads_as_unconfirmed(tmp_path):
    ledger = ledger_at(tmp_path)
    key = KEYS[0]
    path = tmp_path / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"status": "cla')  # the process died while writing its claim

    entry = ledger.get(key)

    assert entry is not None and entry.status == "claimed" and entry.record == {}
    assert not ledger.claim(key, {})
    ledger.release(key)  # not this ledger's claim: kept
    assert ledger.get(key) is not None
