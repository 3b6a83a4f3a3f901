"""The HTTP(S) server of the simulator: one thread per connection, HTTP/1.1 keep-alive, no Nagle delays.

Nothing here serialises requests: each connection has its own thread, which makes its own TLS
handshake; the accepting thread only accepts. Locks are held briefly (the state's for the
operation itself, the exchange log's to append), never across the latency wait or socket I/O.
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import parse_qs, urlsplit

from learnifier_simulator._version import __version__
from learnifier_simulator.dispatch import Dispatcher, HttpRequest, Outcome
from learnifier_simulator.messages import ApiError, ApiResponse
from learnifier_simulator.recording import Exchange, ExchangeLog, HeaderMap

log = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection (or a TLS handshake) may wait for the client.
IDLE_TIMEOUT_SECONDS = 120.0
_STATUSES_WITHOUT_BODY = frozenset({204, 304})
_MAX_LINE = 65536


def _exchange(request: HttpRequest, outcome: Outcome, response_headers: list[tuple[str, str]]) -> Exchange:
    response, route = outcome.response, outcome.route
    return Exchange(
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        body=request.body,
        status=None if response is None else response.status,
        response_headers=HeaderMap(response_headers),
        response_body=b"" if response is None else response.body,
        operation=None if route is None else route.operation,
        control=route is not None and route.is_control,
        fault=outcome.fault,
    )


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    """Reads each request, has the dispatcher decide its outcome, records it, then answers or drops."""

    protocol_version = "HTTP/1.1"
    server_version = f"LearnifierSimulator/{__version__}"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: SimulatorHTTPServer

    def setup(self) -> None:
        """Set up the connection, completing the TLS handshake here, in the connection's own thread."""
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        """Handle any method: routing decides whether it is allowed."""
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def version_string(self) -> str:
        """Return the ``Server`` header: the simulator and its version."""
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        """Log through :mod:`logging` rather than to standard error, formatting only when enabled."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self) -> None:
        request, outcome = self._receive()
        response = outcome.response
        headers = [] if response is None else self._headers_for(response)
        # Recorded (or counted) before answering: a client holding its answer finds it recorded.
        exchanges = self.server.exchanges
        if exchanges.record:
            exchanges.append(_exchange(request, outcome, headers))
        else:
            route = outcome.route
            exchanges.count(
                None if route is None else route.operation, route is not None and route.is_control
            )
        if response is None:
            self.close_connection = True
        else:
            self._send(response, headers)

    def _receive(self) -> tuple[HttpRequest, Outcome]:
        target = urlsplit(self.path)
        query = parse_qs(target.query, keep_blank_values=True)
        headers = HeaderMap(self.headers.items())
        try:
            body = self._read_body()
        except ApiError as error:
            self.close_connection = True
            return HttpRequest(self.command, target.path, query, headers, b""), Outcome(
                ApiResponse.error(error)
            )
        request = HttpRequest(self.command, target.path, query, headers, body)
        return request, self.server.dispatcher.dispatch(request)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunks()
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isascii() or not length.isdigit():
            raise ApiError(400, f"Invalid Content-Length {length!r}")
        return self.rfile.read(int(length))

    def _read_chunks(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(_MAX_LINE)
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                raise ApiError(400, f"Invalid chunk size line {size_line!r}") from None
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    continue  # skip the trailer fields
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE)

    def _headers_for(self, response: ApiResponse) -> list[tuple[str, str]]:
        headers = [("Server", self.version_string()), ("Date", self.date_time_string())]
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        headers.extend(response.headers.items())
        if response.status not in _STATUSES_WITHOUT_BODY:
            headers.append(("Content-Length", str(len(response.body))))
        if self.close_connection:
            headers.append(("Connection", "close"))
        return headers

    def _send(self, response: ApiResponse, headers: list[tuple[str, str]]) -> None:
        """Write the status line, headers and body at once.

        One write makes one TLS record and one segment, and releases the GIL once: status and
        headers written apart from the body cost a second system call and, when the clients run
        in the same process, a second wait for the GIL.
        """
        phrase = self.responses[response.status][0] if response.status in self.responses else ""
        head = "".join(
            [
                f"{self.protocol_version} {response.status} {phrase}\r\n",
                *(f"{name}: {value}\r\n" for name, value in headers),
                "\r\n",
            ]
        ).encode("latin-1", "strict")
        body = b"" if response.status in _STATUSES_WITHOUT_BODY else response.body
        self.wfile.write(head + body)


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP(S) server that can stop at once, closing every open connection.

    :param address: the host and port to listen on; port 0 picks a free port.
    :param dispatcher: decides the answers.
    :param exchanges: where handled requests are recorded.
    :param ssl_context: serve HTTPS with this context, or plain HTTP when ``None``.
    """

    daemon_threads = True
    #: The listen backlog; socketserver's default of 5 drops bursts of connections, which the
    #: clients then retry only after a second.
    request_queue_size = socket.SOMAXCONN

    def __init__(
        self,
        address: tuple[str, int],
        dispatcher: Dispatcher,
        exchanges: ExchangeLog,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.dispatcher = dispatcher
        self.exchanges = exchanges
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_changed = threading.Condition()
        self._wakeup_reader, self._wakeup_writer = socket.socketpair()
        super().__init__(address, SimulatorRequestHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup of :class:`~http.server.HTTPServer`, which can be slow."""
        TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept a connection, wrapping it for TLS without handshaking in the accepting thread."""
        connection, client_address = super().get_request()
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        with self._connections_changed:
            self._connections.add(connection)
        return connection, client_address

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """Close a finished connection and forget it."""
        super().shutdown_request(request)
        with self._connections_changed:
            self._connections.discard(request)
            self._connections_changed.notify_all()

    def handle_error(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        """Log errors quietly: clients hanging up or failing the TLS handshake are normal here."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.debug("Connection from %s ended: %s", client_address, error)
        else:
            log.exception("Error while handling a request from %s", client_address)

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`stop_serving` is called."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wakeup_reader, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wakeup_reader in ready:
                    return
                self.handle_request()

    def stop_serving(self) -> None:
        """Make :meth:`serve_until_stopped` return."""
        self._wakeup_writer.send(b"\0")

    def close_connections(self, timeout: float) -> None:
        """Shut down every open connection and wait up to ``timeout`` seconds for their threads to finish."""
        with self._connections_changed:
            for connection in self._connections:
                try:
                    # The plain socket's shutdown, which leaves a TLS socket's state to its own thread.
                    socket.socket.shutdown(connection, socket.SHUT_RDWR)
                except OSError:
                    log.debug("Connection already closed")
            self._connections_changed.wait_for(lambda: not self._connections, timeout)

    def server_close(self) -> None:
        """Close the listening socket and the wake-up channel."""
        super().server_close()
        self._wakeup_reader.close()
        self._wakeup_writer.close()
