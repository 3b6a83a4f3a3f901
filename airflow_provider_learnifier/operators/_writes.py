"""The one way the operators recover a write whose answer was lost.

Every create and every activation the operators send goes through :func:`write_once`. The hook
marks each error with whether the request may have been applied
(:attr:`~airflow_provider_learnifier.exceptions.LearnifierError.may_have_been_applied`: the
connection was lost after sending, the answer timed out, a 5xx) and whether Learnifier may still
be working on it (:attr:`~airflow_provider_learnifier.exceptions.LearnifierError.may_still_be_in_flight`).
A write that may have been applied is settled by reading the state, and sent again at most once,
and only when a second copy cannot be applied twice.

Imported by the operators only when a task runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from airflow_provider_learnifier.exceptions import (
    LearnifierConflictError,
    LearnifierError,
    LearnifierUncertainWriteError,
)

_T = TypeVar("_T")

#: The pauses, in seconds, between the further reads of a write that Learnifier may still be
#: applying and that is not sent again (:func:`write_once`'s ``settle``): 7.5 s in all.
SETTLE_PAUSES = (0.5, 1.0, 2.0, 4.0)


def _sleep(seconds: float) -> None:
    """Wait between two reads of an unsettled write (``time.sleep``); a seam for tests."""
    time.sleep(seconds)


def write_once(
    send: Callable[[], _T],
    *,
    read_back: Callable[[], _T | None] | None,
    what: str,
    deduplicated: bool,
    send_again: bool = True,
    on_conflict: Callable[[LearnifierConflictError], _T] | None = None,
    settle: Sequence[float] = (),
    log: logging.Logger | Any = None,
) -> tuple[_T, bool]:
    """Send a write; when its outcome is unknown, read the state, and send it again at most once.

    :param send: sends the write and returns its result.
    :param read_back: reads the state and returns what the write would have made (the same kind of
        result as ``send``), or ``None`` when it was not applied. ``None`` when the state cannot be
        read (a user known by email alone): then only a 409 on the second copy tells.
    :param what: the write, for messages (``"creating user 'E-1'"``).
    :param deduplicated: a second copy of this write cannot do harm: Learnifier refuses it (a 409
        for a user, a participant, an org unit with an external id), or it only replaces the first
        (a login link, of which the lost one is unusable). Sending it again while the first may
        still be in flight then cannot apply it twice. Otherwise (a project, a user group) it is sent
        again only when the failure proves Learnifier is done with the first.
    :param send_again: ``False`` for a write that is never sent twice in one run (an activation,
        which may mail the person): when the state does not show it, its error is raised.
    :param on_conflict: turns a 409 into a result (after checking that what exists is what was
        meant); without it a 409 is raised.
    :param settle: when the write may still be in flight and will not be sent again, read the
        state again after each of these pauses (seconds) until it shows the write: a server may
        apply a write a moment after its answer was lost. Bounded: after the last, the write is
        reported uncertain.
    :param log: where to log.
    :return: the result, and whether it came from this call's writes (``False`` when a 409 on
        the first send said it existed before).
    :raises LearnifierUncertainWriteError: when the write may have been applied and it is not known
        whether: the state could not be read, or does not show it while a copy may still be in
        flight or cannot be read at all, or a 409 on the second copy could not be settled. Callers
        report it as "may have been applied", never as not done.
    :raises LearnifierError: the write's own error when it was refused, or failed and the state
        shows it was not applied.
    """
    log = log or logging.getLogger(__name__)
    try:
        return send(), True
    except LearnifierConflictError as conflict:
        if on_conflict is None:
            raise
        return on_conflict(conflict), False
    except LearnifierError as error:
        if not error.may_have_been_applied:
            raise
        first_error = error
    found = _read(read_back, what, first_error)
    will_not_resend = not send_again or (first_error.may_still_be_in_flight and not deduplicated)
    if found is None and will_not_resend and first_error.may_still_be_in_flight and read_back is not None:
        for attempt, pause in enumerate(settle, start=1):
            log.info(
                "%s got no clear answer (%s) and is not shown yet; reading again in %.1f s (%d of %d)",
                _capitalised(what),
                first_error,
                pause,
                attempt,
                len(settle),
            )
            _sleep(pause)
            found = _read(read_back, what, first_error)
            if found is not None:
                break
    if found is not None:
        log.info("%s got no clear answer (%s), but it was applied", _capitalised(what), first_error)
        return found, True
    if will_not_resend:
        if not first_error.may_still_be_in_flight and read_back is not None:
            raise first_error
        raise LearnifierUncertainWriteError(
            f"{what} got no clear answer and may still be applied by Learnifier, so it was not sent "
            f"again (it could be applied twice); the next run reads whether it was: {first_error}",
            **first_error.details,
        ) from first_error
    log.warning(
        "%s got no clear answer (%s) and %s; sending it once more",
        _capitalised(what),
        first_error,
        "its state cannot be read" if read_back is None else "was not applied",
    )
    try:
        return send(), True
    except LearnifierConflictError as conflict:
        # The first copy was applied after all (or somebody made the same thing meanwhile).
        if on_conflict is None:
            raise _uncertain(what, "was answered 409 when sent again", conflict) from conflict
        try:
            return on_conflict(conflict), True
        except LearnifierError as error:
            raise _uncertain(what, "was answered 409 when sent again", error) from error
    except LearnifierError as error:
        if not error.may_have_been_applied:
            raise
        found = _read(read_back, what, error)
        if found is not None:
            return found, True
        if read_back is None or error.may_still_be_in_flight:
            raise _uncertain(what, "got no clear answer twice", error) from error
        raise


def _read(read_back: Callable[[], _T | None] | None, what: str, send_error: LearnifierError) -> _T | None:
    """Read whether a write was applied; a read that fails leaves the write uncertain."""
    if read_back is None:
        return None
    try:
        return read_back()
    except LearnifierError as error:
        raise _uncertain(
            what, f"got no clear answer ({send_error}), and reading whether it was applied failed", error
        ) from error


def _uncertain(what: str, how: str, error: LearnifierError) -> LearnifierUncertainWriteError:
    return LearnifierUncertainWriteError(
        f"{what} {how}, so it may have been applied; the next run reads whether it was: {error}",
        **error.details,
    )


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
