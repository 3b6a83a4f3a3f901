"""The simulator as a whole: a seeded state served over HTTP(S) on a loopback address."""

from __future__ import annotations

import ipaddress
import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnifier_simulator import persistence
from learnifier_simulator.dispatch import Credentials, Dispatcher
from learnifier_simulator.faults import DropPoint, FaultConfig, FaultInjector, RateLimiter, scripted_fault
from learnifier_simulator.recording import Exchange, ExchangeLog
from learnifier_simulator.seed import seeded_state
from learnifier_simulator.server import SimulatorHTTPServer
from learnifier_simulator.state import SimulatorState
from learnifier_simulator.tls import create_certificates, server_context
from learnifier_simulator.variants import VariantRenderer

if TYPE_CHECKING:
    from datetime import datetime
    from types import TracebackType

    from learnifier_simulator.models import JsonObject
    from learnifier_simulator.variants import SpecVariants

#: Seconds that :meth:`LearnifierSimulator.stop` waits for open connections to close.
STOP_TIMEOUT_SECONDS = 5.0


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is ``localhost`` or a loopback address.

    The provider's hook has the same rule (``is_loopback_host``) for the URLs it may call over
    plain HTTP. The simulator keeps its own: it installs without the provider and Airflow.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LearnifierSimulator:
    """A local stand-in for Learnifier's Admin API, for tests, demos and DAG development.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with LearnifierSimulator() as sim:
            requests.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), verify=sim.ca_file)

    :param key: the API key that requests must authenticate with.
    :param secret: the API secret.
    :param seed: ``"demo"`` for the demo data of :mod:`~learnifier_simulator.seed`,
        or ``None`` for an account with only the course designs.
    :param tls: serve HTTPS with a certificate signed by a CA made at start (see :attr:`ca_file`).
    :param host: the loopback address to listen on.
    :param port: the port to listen on; 0 picks a free one.
    :param latency: seconds to wait before answering each API request.
    :param faults: random faults to inject; none by default.
    :param record: keep every exchange (request and answer, bodies included) for
        :attr:`exchanges`. Turn it off for long runs and memory measurements: requests are then
        only counted (see :attr:`request_count`). May be switched later through :attr:`record`.
    :param max_exchanges: keep only the newest this many exchanges; ``None`` keeps all.
    :param variants: vary the answers, per request and at random, in the ways the spec permits
        (see :class:`~learnifier_simulator.variants.SpecVariants`); ``None``
        (the default) answers as usual. May be changed later through :attr:`variants`.
    :param rate_limit: allow this many API requests per second, as a token bucket holding one
        second's worth (see :class:`~learnifier_simulator.faults.RateLimiter`);
        beyond it, answer 429 with ``Retry-After`` in whole seconds. ``None`` (the default): no
        limit. May be changed later through :attr:`rate_limit`.
    :param rate_limit_burst: how many requests the rate limit's bucket holds; by default one
        second's worth.
    :param state_dir: keep the CA, the server certificate, the port and the data in this directory
        across restarts (see :mod:`~learnifier_simulator.persistence`): the data
        saved at the last stop replaces the seed, and the port saved at the first start is used
        when ``port`` is 0. ``None`` (the default): all of it lasts only as long as the simulator.
    :raises ValueError: for a host that is not a loopback address, an unknown seed, a negative
        ``max_exchanges`` or a ``rate_limit`` that is not positive.
    """

    def __init__(
        self,
        key: str = "sim-key",
        secret: str = "sim-secret",
        *,
        seed: str | None = "demo",
        tls: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        faults: FaultConfig | None = None,
        record: bool = True,
        max_exchanges: int | None = None,
        variants: SpecVariants | None = None,
        rate_limit: float | None = None,
        rate_limit_burst: float | None = None,
        state_dir: Path | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"The simulator listens only on loopback addresses, not on {host!r}")
        self.key = key
        self.secret = secret
        self._state_dir = state_dir
        if state_dir is not None:
            persistence.prepare(state_dir)
            port = port or persistence.saved_port(state_dir)
            restored = SimulatorState()
            self.state: SimulatorState = (
                restored if persistence.load_state(state_dir, restored) else seeded_state(seed)
            )
        else:
            self.state = seeded_state(seed)
        self._tls = tls
        self._address = (host, port)
        self._exchanges = ExchangeLog(record=record, max_exchanges=max_exchanges)
        self._stopping = threading.Event()
        self._variant_renderer = VariantRenderer(variants)
        self._dispatcher = Dispatcher(
            self.state,
            Credentials(key, secret),
            FaultInjector(faults or FaultConfig()),
            0.0,
            self._stopping,
            self._exchanges,
            self._variant_renderer,
        )
        self._rate_limit_burst = rate_limit_burst
        self.rate_limit = rate_limit
        self.latency = latency
        self._server: SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cert_dir: Path | None = None
        self._ca_file: Path | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._server else "not running"
        return f"<LearnifierSimulator {where}>"

    def __enter__(self) -> LearnifierSimulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Listen and serve in a background thread; a simulator starts only once."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("This simulator was already started")
        ssl_context = None
        if self._tls and self._state_dir is not None:
            files = persistence.certificates(self._state_dir)
            self._ca_file = files.ca_file
            ssl_context = server_context(files)
        elif self._tls:
            self._cert_dir = Path(tempfile.mkdtemp(prefix="learnifier-simulator-"))
            files = create_certificates(self._cert_dir)
            self._ca_file = files.ca_file
            ssl_context = server_context(files)
        try:
            self._server = SimulatorHTTPServer(self._address, self._dispatcher, self._exchanges, ssl_context)
        except OSError:
            self._remove_certificates()
            raise
        self.state.base_url = self.base_url
        if self._state_dir is not None:
            persistence.save_port(self._state_dir, self.port)
        self._thread = threading.Thread(
            target=self._server.serve_until_stopped, name=f"learnifier-simulator-{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: close the listening socket and every connection, and remove the certificates.

        With a ``state_dir``, keep the certificates there and save the data instead. Stopping
        again, or stopping a simulator never started, does nothing.
        """
        self._stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.stop_serving()
            self._thread.join()
            self._thread = None
            self._server.server_close()
            self._server.close_connections(STOP_TIMEOUT_SECONDS)
            if self._state_dir is not None:
                persistence.save_state(self._state_dir, self.state)
        self._remove_certificates()

    def _remove_certificates(self) -> None:
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None

    # ------------------------------------------------------------------ where and how to connect

    @property
    def port(self) -> int:
        """The port the simulator listens on."""
        return self._running_server().server_address[1]

    @property
    def base_url(self) -> str:
        """The API's base URL, such as ``https://127.0.0.1:54321``, without a trailing slash."""
        host = self._address[0]
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    @property
    def ca_file(self) -> str | None:
        """The PEM file of the CA that signed the server's certificate; ``None`` without TLS."""
        return str(self._ca_file) if self._ca_file else None

    def connection_json(self, extra: dict[str, Any] | None = None) -> str:
        """Return an Airflow connection to the simulator as JSON, for ``AIRFLOW_CONN_<ID>``.

        :param extra: more connection extras, merged over ``verify`` (the CA file).
        """
        extras: dict[str, Any] = {"verify": self.ca_file} if self.ca_file else {}
        return json.dumps(
            {
                "conn_type": "learnifier",
                "host": self.base_url,
                "login": self.key,
                "password": self.secret,
                "extra": extras | (extra or {}),
            }
        )

    # ------------------------------------------------------------------ behaviour at run time

    @property
    def latency(self) -> float:
        """Seconds waited before answering each API request; may be changed while running."""
        return self._dispatcher.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must not be negative, not {seconds!r}")
        self._dispatcher.latency = seconds

    @property
    def faults(self) -> FaultConfig:
        """The random faults; setting them restarts their draws from their seed."""
        return self._dispatcher.faults.config

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        self._dispatcher.faults.config = config

    @property
    def variants(self) -> SpecVariants | None:
        """The spec variants of the answers, ``None`` when off; setting them restarts their draws."""
        return self._variant_renderer.variants

    @variants.setter
    def variants(self, variants: SpecVariants | None) -> None:
        self._variant_renderer.variants = variants

    @property
    def rate_limit(self) -> float | None:
        """API requests allowed per second (a full bucket at each change), ``None`` for no limit."""
        limiter = self._dispatcher.rate_limiter
        return None if limiter is None else limiter.rate

    @rate_limit.setter
    def rate_limit(self, rate: float | None) -> None:
        self._dispatcher.rate_limiter = None if rate is None else RateLimiter(rate, self._rate_limit_burst)

    @property
    def rate_limit_counts(self) -> dict[str, int]:
        """How many API requests the current rate limit ``admitted`` and how many it ``refused`` (429)."""
        limiter = self._dispatcher.rate_limiter
        return {"admitted": 0, "refused": 0} if limiter is None else limiter.counts

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many faults of each kind were injected, scripted ones counted as ``scripted``."""
        return self._dispatcher.faults.counts

    def inject(
        self,
        status: int = 503,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | str | None = None,
        body: bytes | None = None,
        drop: DropPoint | None = None,
        echo_credentials: bool = False,
    ) -> None:
        """Script a fault for the next ``times`` API requests that match ``method`` and ``path``.

        Scripted faults apply in the order they were scripted, before any random fault.

        :param status: answer this status, without applying the request.
        :param times: how many matching requests meet the fault.
        :param method: only requests with this method.
        :param path: only requests whose path starts with this.
        :param retry_after: the ``Retry-After`` of the answer, in seconds or as an HTTP date.
        :param body: the answer's JSON body, instead of an error body.
        :param drop: ``"before"`` or ``"after"``: instead of answering, close the connection before
            or after applying the request.
        :param echo_credentials: answer ``status`` with an error whose body, headers and ``Location``
            repeat the request's ``Authorization`` header, the key and the secret, in several
            encodings (:func:`~learnifier_simulator.faults.echo_answer`), as a careless server might.
        """
        fault = scripted_fault(
            status, retry_after=retry_after, body=body, drop=drop, echo_credentials=echo_credentials
        )
        self._dispatcher.faults.script(fault, times=times, method=method, path_prefix=path)

    def advance_progress(
        self,
        project_id: str | int | None = None,
        participant_id: str | int | None = None,
        activities: int = 1,
        complete: bool = False,
        at: datetime | None = None,
    ) -> list[JsonObject]:
        """Let activated participants complete activities; see :meth:`SimulatorState.advance_progress`."""
        return self.state.advance_progress(project_id, participant_id, activities, complete, at)

    def set_participant_error(self, participant_id: str | int, message: str | None) -> JsonObject:
        """Put a participation into error with ``message``, or clear its error with ``None``.

        While in error, it shows ``inError: true`` and ``errorMessage``, its login links are
        refused (422) and :meth:`advance_progress` skips it; ``""`` puts it in error without a
        message. See :meth:`SimulatorState.set_participant_error`.

        :return: the participation's new representation.
        :raises ApiError: 404 for an unknown participation.
        """
        return self.state.set_participant_error(participant_id, message)

    # ------------------------------------------------------------------ recorded exchanges

    @property
    def exchanges(self) -> list[Exchange]:
        """The requests handled so far and their answers, oldest first.

        Empty while :attr:`record` is off; only the newest :attr:`max_exchanges` when bounded.
        """
        return self._exchanges.snapshot()

    def clear_exchanges(self) -> None:
        """Forget the recorded exchanges (the request counts are kept)."""
        self._exchanges.clear()

    @property
    def record(self) -> bool:
        """Whether exchanges are recorded; may be switched while running (counts go on either way)."""
        return self._exchanges.record

    @record.setter
    def record(self, on: bool) -> None:
        self._exchanges.record = on

    @property
    def max_exchanges(self) -> int | None:
        """How many exchanges are kept at most; ``None`` for no bound."""
        return self._exchanges.max_exchanges

    @property
    def request_count(self) -> int:
        """How many requests for Learnifier's API were handled, recorded or not.

        Every request read counts, whatever its answer (401s, faults, dropped connections);
        requests for the simulator's own ``/_simulator/`` routes do not.
        """
        return self._exchanges.request_count

    @property
    def request_counts(self) -> dict[tuple[str, str], int]:
        """:attr:`request_count` by spec operation, keyed as :attr:`Exchange.operation`.

        Requests for unknown paths count in :attr:`request_count` only.
        """
        return self._exchanges.request_counts()

    def reset_request_counts(self) -> None:
        """Count requests from zero again (recorded exchanges are kept)."""
        self._exchanges.reset_counts()

    def _running_server(self) -> SimulatorHTTPServer:
        if self._server is None:
            raise RuntimeError("The simulator is not started")
        return self._server
