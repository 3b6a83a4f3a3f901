"""Tiny loopback HTTP servers for the hostile-answer tests: they record every request's headers.

``RecordingServer(answer)`` serves plain HTTP on a loopback address in a background thread and
answers each request with ``answer(request)``; ``requests_seen`` lists what arrived. It is
used as the "other host" a redirect points to (``127.0.0.2``), and as a redirecting API.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A 1x1 transparent PNG, what the "other host" serves as a picture.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@dataclass(frozen=True)
class SeenRequest:
    """One request a :class:`RecordingServer` received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


class RecordingServer:
    """A loopback HTTP server that records requests and answers them with ``answer``.

    :param answer: called with each :class:`SeenRequest`, returns the :class:`Answer`.
    :param host: a loopback address (``127.0.0.2`` makes "another host" than ``127.0.0.1``).
    """

    def __init__(self, answer: Callable[[SeenRequest], Answer], host: str = "127.0.0.1") -> None:
        assert host.startswith("127."), "only loopback addresses"
        self.requests_seen: list[SeenRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = SeenRequest(
                    self.command,
                    self.path,
                    {name: value for name, value in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                server.requests_seen.append(seen)
                reply = answer(seen)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def netloc(self) -> str:
        return self.base_url.removeprefix("http://")

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class DribblingServer:
    """A raw-socket loopback server that sends its answers slowly, as a slow or hostile server may.

    Each request gets its status line and headers one byte every ``head_interval`` seconds (at
    once when 0), then its body one byte every ``interval`` seconds. With ``redirects``, the
    first request and each redirect hop up to that many are answered ``302 Found`` to the next
    hop (``/hop/1``, ``/hop/2``, ...). One request per connection (``Connection: close``).

    It records the paths it was asked for, and each connection the client shut while its answer
    was still being sent: ``cuts`` says where (``"head"`` or ``"body"``). It stops sending when
    the client goes away or the server is stopped, so a test never waits for a whole dribble.
    """

    def __init__(
        self,
        body: bytes,
        *,
        interval: float = 0.02,
        head_interval: float = 0.0,
        redirects: int = 0,
        status: str = "200 OK",
    ) -> None:
        import socket

        self.body = body
        self.interval = interval
        self.head_interval = head_interval
        self.redirects = redirects
        self.status = status
        self.paths_seen: list[str] = []
        self.cuts: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def requests_seen(self) -> int:
        return len(self.paths_seen)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: Any) -> None:
        with connection:
            connection.settimeout(5)
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                received += chunk
            path = received.split(b" ", 2)[1].decode("ascii")
            with self._lock:
                self.paths_seen.append(path)
            hop = int(path.removeprefix("/hop/")) if path.startswith("/hop/") else 0
            if hop < self.redirects:
                status, extra, body = "302 Found", f"Location: /hop/{hop + 1}\r\n", b""
            else:
                status, extra, body = self.status, "Content-Type: application/json\r\n", self.body
            head = f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            if self._send(connection, head.encode("ascii"), self.head_interval, "head"):
                self._send(connection, body, self.interval, "body")

    def _send(self, connection: Any, data: bytes, interval: float, part: str) -> bool:
        """Send ``data`` a byte every ``interval`` seconds; ``False`` when the client went away first."""
        import select

        pieces = [data] if interval == 0 else [bytes([byte]) for byte in data]
        for piece in pieces:
            if interval:
                # Wait the interval, watching for the client closing the connection meanwhile.
                readable, _, _ = select.select([connection], [], [], interval)
                if self._stopping.is_set():
                    return False
                if readable and not _still_there(connection):
                    with self._lock:
                        self.cuts.append(part)
                    return False
            try:
                connection.sendall(piece)
            except OSError:
                return False
        return True

    def __enter__(self) -> DribblingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()


def _still_there(connection: Any) -> bool:
    """Whether the client of a readable connection is still there (it sends nothing more)."""
    try:
        return bool(connection.recv(1))
    except OSError:
        return False
