"""Retries: which failed attempts may be repeated, and how long to wait before the next.

An idempotent request (GET, PUT, DELETE) is repeated after a connection error, a timeout, a
429/500/502/503/504 or a success without the JSON expected; a POST or PATCH only when Learnifier
cannot have applied it (no connection was made, or a 429/503 with ``Retry-After``). Waits back off
exponentially with jitter and honour ``Retry-After``. See ``docs/reliability.md``.
"""

from __future__ import annotations

import enum
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

    from airflow_provider_learnifier.exceptions import LearnifierError
    from airflow_provider_learnifier.hooks._transport.settings import LearnifierConnectionSettings

#: The longest backoff between two attempts, before jitter.
MAX_BACKOFF_SECONDS = 60.0
#: A ``Retry-After`` longer than this is not waited out in the task: the error is raised instead.
MAX_RETRY_AFTER_SECONDS = 300.0

#: Methods that may be sent again: doing what they ask twice is doing it once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers worth another try of a request that may safely be repeated.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Answers after which a POST or PATCH may be repeated: Learnifier says it did not take it.
REFUSED_STATUSES = frozenset({429, 503})


def retry_after_seconds(header: str | None) -> float | None:
    """Read a ``Retry-After`` header given as seconds or as an HTTP date."""
    if not header:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Retry(enum.Enum):
    """Whether a failed attempt may be repeated, before counting attempts and waits."""

    #: Never: the failure will not change (a TLS failure, a client error).
    NEVER = "never"
    #: Only a GET, PUT, DELETE (...): a POST or PATCH may have been applied.
    IF_IDEMPOTENT = "if idempotent"
    #: Any method: Learnifier cannot have applied the request (no connection, or it refused it).
    ALWAYS = "always"


@dataclass(frozen=True)
class Outcome:
    """How one attempt of a request went: its answer, or the error it would raise and whether to retry.

    :param answer: the successful response.
    :param payload: its decoded JSON body, when one was expected.
    :param error: the error to raise if the request is not repeated.
    :param cause: the exception chained to ``error`` (unless the request sends the key).
    :param response: the error answer, closed when the request is repeated.
    :param retry: whether the failure may be repeated.
    :param retry_after: the answer's ``Retry-After`` in seconds.
    :param what: the failure, for the retry's log line.
    :param paused: the rate gate holds this thread back for the ``Retry-After``, so the retry does
        not sleep itself.
    """

    answer: requests.Response | None = None
    payload: Any = None
    error: LearnifierError | None = None
    cause: BaseException | None = None
    response: requests.Response | None = None
    retry: Retry = Retry.NEVER
    retry_after: float | None = None
    what: str = ""
    paused: bool = False


def reached_server(error: Exception) -> bool:
    """Tell whether a failed request may have reached the server (so a POST must not be repeated)."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
    from urllib3.exceptions import ProxyError as Urllib3ProxyError

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        reason = error.args[0] if error.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        if isinstance(reason, Urllib3ProxyError):
            # The proxy could not be reached, or refused the tunnel: nothing was sent to Learnifier.
            # Any other error that urllib3 1.26 wraps as a proxy error may have come after sending.
            reason = reason.original_error
            if isinstance(reason, OSError) and str(reason).startswith("Tunnel connection failed"):
                return False
        return not isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return True


def proxy_refusal(error: Exception) -> str | None:
    """The proxy's answer when it refused to open the tunnel for want of credentials (407, or 401
    as tinyproxy answers), else ``None``."""
    found = re.search(r"Tunnel connection failed: (40[17]\b[\w -]*)", str(error))
    return found.group(1).strip() if found else None


def backoff(settings: LearnifierConnectionSettings, attempt: int) -> float:
    """Exponential backoff with jitter: half the step fixed, half random."""
    step = min(MAX_BACKOFF_SECONDS, settings.backoff_factor * 2 ** (attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


def retry_delay(
    settings: LearnifierConnectionSettings, method: str, outcome: Outcome, attempt: int
) -> float | None:
    """The one retry policy: how long to wait before trying again, or ``None`` to give up.

    Idempotent requests are repeated after any failure marked retryable; a POST or PATCH only
    when Learnifier cannot have applied it (see :class:`Retry`). Another try waits the
    answer's ``Retry-After``, else the backoff; a ``Retry-After`` beyond
    :data:`MAX_RETRY_AFTER_SECONDS` is not waited out.
    """
    if attempt >= settings.max_retries:
        return None
    if outcome.retry is Retry.NEVER:
        return None
    if outcome.retry is Retry.IF_IDEMPOTENT and method not in IDEMPOTENT_METHODS:
        return None
    delay = outcome.retry_after if outcome.retry_after is not None else backoff(settings, attempt + 1)
    return delay if delay <= MAX_RETRY_AFTER_SECONDS else None
