"""One attempt of a request: through the rate gate, read whole within its deadline, judged.

:func:`try_once` sends a request once and never raises for the API: it says how the attempt went
(an :class:`~airflow_provider_learnifier.hooks._transport.retries.Outcome`: the answer, or the
typed error and whether it may be repeated), and the hook's ``_request`` decides whether to try
again. :func:`send_attempt` reads the whole answer, redirects included, before the attempt's
deadline. See ``docs/reliability.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_learnifier.exceptions import LearnifierConnectionError, LearnifierResponseError
from airflow_provider_learnifier.hooks._transport.answers import decode_answer, error_for
from airflow_provider_learnifier.hooks._transport.deadline import WATCHDOG
from airflow_provider_learnifier.hooks._transport.redaction import SCRUBBER, scrub_answer
from airflow_provider_learnifier.hooks._transport.retries import (
    IDEMPOTENT_METHODS,
    REFUSED_STATUSES,
    RETRYABLE_STATUSES,
    Outcome,
    Retry,
    proxy_refusal,
    reached_server,
    retry_after_seconds,
)
from airflow_provider_learnifier.hooks._transport.settings import MAX_REDIRECTS

if TYPE_CHECKING:
    import requests

    from airflow_provider_learnifier.hooks._transport.settings import LearnifierConnectionSettings
    from airflow_provider_learnifier.hooks.rate_gate import RateGate

#: The body of an answer is read in pieces of at most this many bytes.
_BODY_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ApiRequest:
    """One API request as every attempt of it sends it: the operation, for errors and logs, and
    what goes on the wire."""

    operation: str
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    data: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    follow_redirects: bool = False
    #: Whether a success must carry a JSON body (one that does not is an error, retried if safe).
    expect_json: bool = False

    @property
    def context(self) -> dict[str, Any]:
        """What every error of this request names."""
        return {"operation": self.operation, "method": self.method, "path": self.path}


class Sender(Protocol):
    """What an attempt needs of the hook, which makes each on first use (the connection is read then)."""

    @property
    def settings(self) -> LearnifierConnectionSettings: ...

    @property
    def session(self) -> requests.Session: ...

    @property
    def rate_gate(self) -> RateGate: ...


def read_body(response: requests.Response) -> None:
    """Read the whole body of a streamed ``response`` into ``response.content``.

    Read here rather than by ``requests`` so that every way a hostile server can break the body
    is one of ``requests``' exceptions; the attempt's deadline is kept by :data:`WATCHDOG`.

    :raises requests.exceptions.RequestException: for a connection that fails while the body is read.
    """
    import requests
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
    from urllib3.exceptions import HTTPError as Urllib3Error

    from airflow_provider_learnifier.hooks._transport.urllib3_internals import set_content

    # urllib3 2's read1 returns what has arrived; urllib3 1.26 has only read.
    read = getattr(response.raw, "read1", None) or response.raw.read
    pieces: list[bytes] = []
    try:
        while True:
            piece = read(_BODY_CHUNK, decode_content=True)
            if not piece:
                break
            pieces.append(piece)
    except ReadTimeoutError as err:
        raise requests.exceptions.ReadTimeout(err) from err
    except ProtocolError as err:
        raise requests.exceptions.ChunkedEncodingError(err) from err
    except DecodeError as err:
        raise requests.exceptions.ContentDecodingError(err) from err
    except (Urllib3Error, OSError) as err:
        raise requests.exceptions.ConnectionError(err) from err
    set_content(response, b"".join(pieces))


def send_attempt(sender: Sender, request: ApiRequest) -> requests.Response:
    """Send one attempt of a request and read its whole answer, redirects included, within the deadline.

    The deadline spans the attempt: connecting, sending, the headers and the body of every
    redirect hop. An attempt that outlives it has its connection cut (:data:`WATCHDOG`)
    and raises ``requests.exceptions.ReadTimeout`` whatever part of an answer arrived; like
    any read timeout, that leaves a write possibly applied. The connect timeout is lowered to
    the deadline where that is shorter.

    :raises requests.exceptions.RequestException: the attempt failed; the response is closed.
    :raises LearnifierResponseError: a redirect chain longer than :data:`MAX_REDIRECTS`.
    """
    import requests

    settings = sender.settings
    deadline = settings.deadline
    connect_timeout, read_timeout = settings.timeout
    response: requests.Response | None = None
    redirected_too_often = False
    with WATCHDOG.watch(deadline) as attempt:
        try:
            response = sender.session.request(
                request.method,
                settings.base_url + request.path,
                params=request.params,
                data=request.data,
                headers=request.headers,
                timeout=(min(connect_timeout, deadline), read_timeout),
                allow_redirects=request.follow_redirects,
                stream=True,
            )
            read_body(response)
            if attempt.expired:
                # Cut in its headers, an answer can look whole: http.client takes the end of the
                # stream for the end of the headers. So an attempt cut off fails, whatever arrived.
                raise requests.exceptions.ReadTimeout("the connection was cut at the deadline")
        except requests.exceptions.TooManyRedirects:
            redirected_too_often = True
        except requests.exceptions.RequestException as err:
            if response is not None:
                response.close()  # never reuse a connection whose answer was not read to its end
            if attempt.expired:
                raise requests.exceptions.ReadTimeout(
                    f"the answer did not arrive whole within the request deadline of {deadline:g} s"
                ) from err
            raise
    if redirected_too_often:
        # Raised here, outside the except clause, so that no exception holding the URL is chained.
        raise LearnifierResponseError(
            f"Learnifier {request.operation}: {request.method} {request.path} was redirected more "
            f"than {MAX_REDIRECTS} times",
            **request.context,
        )
    assert response is not None
    return response


def try_once(sender: Sender, request: ApiRequest, *, attempts: int) -> Outcome:
    """Send the request once, through the rate gate, and say how it went; never raise for the API.

    :param attempts: how many attempts this one makes, counted into the error it would raise.
    """
    import requests

    gate = sender.rate_gate
    operation, method, path = request.operation, request.method, request.path
    context = request.context
    response: requests.Response | None = None
    try:
        turn = gate.acquire()
        response = send_attempt(sender, request)
        scrub_answer(response)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        gate.answered(turn, response.status_code, retry_after)
    except requests.exceptions.SSLError as err:
        error = LearnifierConnectionError(
            f"Learnifier {operation}: {method} {path} failed TLS verification of "
            f"{sender.settings.base_url} (give the CA bundle in the connection's 'verify' extra for a "
            f"private CA): {SCRUBBER.scrub(str(err))}",
            reached_server=False,
            **context,
        )
        return Outcome(error=error, cause=err, retry=Retry.NEVER)
    except requests.exceptions.RequestException as err:
        if response is not None:
            response.close()  # never reuse a connection whose answer was not read to its end
        reason = SCRUBBER.scrub(f"{type(err).__name__}: {err}")
        reached = reached_server(err)
        proxy = sender.settings.proxy
        if proxy is not None and isinstance(err, requests.exceptions.ProxyError):
            reason = f"the proxy {proxy.display} failed: {reason}"
            refusal = proxy_refusal(err)
            if refusal is not None:
                # Asking again with the same credentials gets the same answer.
                error = LearnifierConnectionError(
                    f"Learnifier {operation}: {method} {path}: the proxy {proxy.display} refused "
                    f"the credentials of the connection's 'proxy' extra ({refusal})",
                    reached_server=False,
                    **context,
                )
                return Outcome(error=error, cause=err, retry=Retry.NEVER)
        error = LearnifierConnectionError(
            f"Learnifier {operation}: {method} {path} got no answer after {attempts} attempt(s): {reason}",
            reached_server=reached,
            **context,
        )
        return Outcome(
            error=error,
            cause=err,
            retry=Retry.IF_IDEMPOTENT if reached else Retry.ALWAYS,
            what=f"{method} {path} failed ({reason})",
        )

    status = response.status_code
    if status < 300:
        if not request.expect_json or not response.content:
            return Outcome(answer=response)
        try:
            return Outcome(answer=response, payload=decode_answer(response.content))
        except ValueError:
            not_json = LearnifierResponseError(
                f"Learnifier {operation}: {method} {path} answered {status} with a body that is not "
                f"JSON (Content-Type {response.headers.get('Content-Type')!r}, "
                f"{len(response.content)} bytes)",
                status=status,
                **context,
            )
            # Chained to nothing: the decoding error would only repeat the body.
            return Outcome(
                error=not_json,
                retry=Retry.IF_IDEMPOTENT,
                what=f"{method} {path} answered {status} without JSON",
            )
    if method in IDEMPOTENT_METHODS:
        retry = Retry.IF_IDEMPOTENT if status in RETRYABLE_STATUSES else Retry.NEVER
    else:
        # A write is repeated only when Learnifier says it did not take it and when to come back.
        refused = status in REFUSED_STATUSES and retry_after is not None
        retry = Retry.ALWAYS if refused else Retry.NEVER
    return Outcome(
        response=response,
        error=error_for(response, retry_after, **context),
        retry=retry,
        retry_after=retry_after,
        what=f"{method} {path} answered {status}",
        # After a 429 with Retry-After the gate holds this thread back for it (the others briefly).
        paused=status == 429 and retry_after is not None and gate.adaptive,
    )
