"""A headless Chromium (Debian's ``chromium`` package) driven over the Chrome DevTools protocol.

Why the DevTools protocol and not WebDriver (Selenium and ``chromium-driver``): the tests need
to see *every* request a page makes (``Network.requestWillBeSent``), to emulate a phone's screen
and to take screenshots; the DevTools protocol gives all three directly, while WebDriver needs
its own vendor extensions for each. Its transport is one WebSocket: the client is ``websockets``
(its synchronous client), which Airflow already installs and the constraints pin, so the browser
tests add no Python dependency and need no driver binary beside the browser.

The browser runs with a fresh profile in the test's ``tmp_path``, no sandbox (the tests run as
root), and every background service off, so the only requests it makes are the page's own.

Use :func:`chromium_or_skip` for the executable: where ``chromium`` is missing the browser tests
are skipped, except under CI (``CI`` set), which installs it (``make browser``) and where a
missing browser must fail, not pass unseen.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

#: What Chromium is started with, besides its profile and the DevTools port.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)

#: The longest the tests wait for the browser to start, a page to load or a command to answer.
DEADLINE = 60.0


def chromium_or_skip() -> str:
    """The Chromium executable; skips the test where there is none (fails under CI)."""
    # Airflow 3 installs websockets; the Airflow 2.11 matrix environment may not have it.
    pytest.importorskip("websockets.sync.client", reason="the DevTools client needs websockets")
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "Chromium is not installed: `make browser` installs Debian's package"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the browser tests)")
    pytest.skip(message)


class DevToolsError(RuntimeError):
    """The browser answered a DevTools command with an error, or did not answer in time."""


class Page:
    """One browser tab, attached over the DevTools protocol (flat session).

    :attr requests: every ``Network.requestWillBeSent`` event's ``request`` (url, method...) since
        the tab was opened, the page's own document included.
    """

    def __init__(self, browser: Browser, session_id: str) -> None:
        self._browser = browser
        self.session_id = session_id
        self.requests: list[dict[str, Any]] = []
        self.console: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._browser.send(method, params, session_id=self.session_id)

    def open(self, url: str, *, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        """Load ``url`` at a screen size and wait for its ``load`` event."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        loaded = self._browser.event_count("Page.loadEventFired", self.session_id)
        self.send("Page.navigate", {"url": url})
        self._browser.wait_for_event("Page.loadEventFired", self.session_id, after=loaded)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (DevTools' own evaluation)."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in answer:
            raise DevToolsError(f"{expression[:80]!r} failed in the page: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self, path: Path, *, max_height: int | None = None) -> Path:
        """Save a PNG of the page from its top (beyond the screen's height) to ``path``.

        :param max_height: cut the picture at this many CSS pixels; ``None``: the whole page.
        """
        height = self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        if max_height is not None:
            height = min(height, max_height)
        width = self.evaluate("Math.ceil(document.documentElement.clientWidth)")
        shot = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Browser:
    """A running headless Chromium and its DevTools WebSocket."""

    def __init__(self, process: subprocess.Popen[bytes], socket: ClientConnection) -> None:
        self.process = process
        self._socket = socket
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._pages: dict[str, Page] = {}

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session_id: str | None = None
    ) -> Any:
        """Send a command and return its result, keeping the events that come before it."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + DEADLINE
        while True:
            answer = self._receive(deadline, f"the answer to {method}")
            if answer.get("id") == message["id"]:
                if "error" in answer:
                    raise DevToolsError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def event_count(self, method: str, session_id: str | None) -> int:
        return sum(1 for event in self._events if self._matches(event, method, session_id))

    def wait_for_event(self, method: str, session_id: str | None, *, after: int = 0) -> dict[str, Any]:
        """Wait for the ``after + 1``-th event ``method`` of a session."""
        deadline = time.monotonic() + DEADLINE
        while True:
            seen = [event for event in self._events if self._matches(event, method, session_id)]
            if len(seen) > after:
                return seen[after]
            self._receive(deadline, method)

    def new_page(self) -> Page:
        """Open a blank tab with the Network, Page and Runtime domains on, before any navigation."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._pages[session] = page
        for domain in ("Network", "Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        return page

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.process.poll() is not None:
            raise DevToolsError(f"no {waiting_for} from Chromium (exit code {self.process.poll()})")
        try:
            message = json.loads(self._socket.recv(timeout=remaining))
        except TimeoutError:
            raise DevToolsError(f"no {waiting_for} from Chromium within {DEADLINE:.0f} s") from None
        if "method" in message:
            self._events.append(message)
            page = self._pages.get(message.get("sessionId", ""))
            if page is not None and message["method"] == "Network.requestWillBeSent":
                page.requests.append(message["params"]["request"])
            if page is not None and message["method"] in ("Log.entryAdded", "Runtime.consoleAPICalled"):
                page.console.append(message["params"])
        return message

    @staticmethod
    def _matches(event: dict[str, Any], method: str, session_id: str | None) -> bool:
        return event["method"] == method and event.get("sessionId") == session_id


@contextmanager
def chromium(executable: str, profile: Path) -> Iterator[Browser]:
    """Start a headless Chromium with a fresh profile in ``profile`` and connect to it.

    Chromium's own temporary files (its singleton socket's folder, which it leaves behind when it
    is stopped) go to a short-lived folder of their own (a socket's path must stay short), removed
    when the browser is.
    """
    profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="learnifier-chromium-", ignore_cleanup_errors=True) as temporary:
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a browser that ran on this profile before left its own
        log = profile / "chromium.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [
                    executable,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=dict(os.environ, TMPDIR=temporary),
            )
        try:
            # Chromium writes the port it chose, then the browser's WebSocket path, once it listens.
            deadline = time.monotonic() + DEADLINE
            lines: list[str] = []
            while len(lines) < 2:
                if process.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise DevToolsError(f"Chromium exited with {process.returncode}: {tail}")
                if time.monotonic() > deadline:
                    raise DevToolsError(f"Chromium did not open its DevTools port within {DEADLINE:.0f} s")
                if port_file.exists():
                    lines = port_file.read_text().split()
                time.sleep(0.05)
            from websockets.sync.client import connect

            url = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            with connect(url, max_size=None, open_timeout=DEADLINE) as socket:
                yield Browser(process, socket)
        finally:
            process.terminate()
            try:
                process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
