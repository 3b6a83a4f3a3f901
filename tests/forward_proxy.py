"""A real forward proxy on loopback for the proxy tests: Debian's ``tinyproxy``, optionally behind
``stunnel`` for an ``https://`` proxy. Both are installed by ``make system-packages``.

tinyproxy is what many companies run as their outgoing proxy: it forwards plain HTTP, tunnels
HTTPS with ``CONNECT`` (it never sees inside the tunnel) and checks Basic proxy authentication.
Each :class:`ForwardProxy` is a throwaway instance: its own configuration and log in a temporary
directory, a free port, stopped and removed afterwards. Its log tells which requests went through.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types import TracebackType

_START_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {_START_TIMEOUT} s")


def require(command: str) -> str:
    """The path of ``command``; fails the test (not skips) when it is missing."""
    path = shutil.which(command)
    if path is None:
        pytest.fail(
            f"{command} is not installed: run `make system-packages` (Debian: apt-get install {command})"
        )
    return path


class ForwardProxy:
    """A tinyproxy on ``127.0.0.1``, optionally requiring Basic proxy authentication.

    :param username: with ``password``: the proxy answers 407 to requests without them.
    :param password: the proxy password.
    :param tls_files: (certificate, key) to put stunnel in front of it: the proxy then speaks
        TLS (an ``https://`` proxy URL); :attr:`port` is stunnel's.
    """

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        tls_files: tuple[Path, Path] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self._tls_files = tls_files
        self._directory: Path | None = None
        self._processes: list[subprocess.Popen[bytes]] = []
        self.port = 0

    def __enter__(self) -> ForwardProxy:
        tinyproxy = require("tinyproxy")
        self._directory = Path(tempfile.mkdtemp(prefix="learnifier-proxy-"))
        proxy_port = _free_port()
        lines = [
            f"Port {proxy_port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            "MaxClients 64",
            "LogLevel Connect",
            f'LogFile "{self.log_file}"',
            "Allow 127.0.0.1",
        ]
        if self.username is not None:
            lines.append(f"BasicAuth {self.username} {self.password}")
        config = self._directory / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        try:
            self._start([tinyproxy, "-d", "-c", str(config)], proxy_port, "tinyproxy")
            self.port = proxy_port
            if self._tls_files is not None:
                self.port = _free_port()
                cert, key = self._tls_files
                stunnel_config = self._directory / "stunnel.conf"
                stunnel_config.write_text(
                    "\n".join(
                        [
                            "foreground = yes",
                            f"output = {self._directory / 'stunnel.log'}",
                            "[proxy]",
                            f"accept = 127.0.0.1:{self.port}",
                            f"connect = 127.0.0.1:{proxy_port}",
                            f"cert = {cert}",
                            f"key = {key}",
                        ]
                    )
                    + "\n"
                )
                self._start([require("stunnel4"), str(stunnel_config)], self.port, "stunnel")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self, command: list[str], port: int, what: str) -> None:
        assert self._directory is not None
        output = self._directory / f"{what}.out"
        with output.open("wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        self._processes.append(process)
        _wait_listening(port, process, what, output)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def stop(self) -> None:
        """Stop the proxy (its log stays readable until the context ends)."""
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes = []

    @property
    def log_file(self) -> Path:
        assert self._directory is not None
        return self._directory / "tinyproxy.log"

    def log(self) -> str:
        """What tinyproxy logged so far: a ``Request`` line per request (``CONNECT host:port``: a tunnel)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def url(self, *, credentials: bool = True, scheme: str | None = None) -> str:
        """The proxy's URL, with its credentials unless ``credentials`` is false."""
        scheme = scheme or ("https" if self._tls_files is not None else "http")
        userinfo = ""
        if credentials and self.username is not None:
            userinfo = f"{self.username}:{self.password}@"
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}"
