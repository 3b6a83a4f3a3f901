"""Serve a Learnifier simulator for a benchmark, in its own process, until standard input closes.

Run by :class:`_common.SimulatorProcess`: ``python bench/_simserver.py '<options as JSON>'``.
Where the simulator can count requests without recording them, it does (recording every
exchange costs the simulator CPU and memory that a real Learnifier does not spend). It prints
one JSON line when it serves (base URL, CA file, credentials, connection), then
answers one JSON line per command line read from standard input:

- ``{"command": "counts"}``: API requests handled per operation since the last ``clear``;
- ``{"command": "clear"}``: start counting again (and forget recorded exchanges);
- ``{"command": "latency", "seconds": 0.02}``: change the latency;
- ``{"command": "state"}``: how many users, participants and activated participants there are;
- ``{"command": "rate_limit_counts"}``: how many API requests the rate limit admitted and refused,
  and ``seconds`` from the first of them to the last (by the server's clock);
- ``{"command": "rate_limit_restart"}``: the same rate limit again, with a full bucket and its
  counts from zero (what came before, such as warm-up requests, is not counted).

With ``"trivial": true`` it serves a fixed JSON answer from the standard library's threading
HTTP server instead (same keep-alive and TLS set-up): the capacity baseline of
``bench/simulator_capacity.py``.
"""

from __future__ import annotations

import inspect
import json
import random
import shutil
import sys
import tempfile
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnifier_simulator import LearnifierSimulator
from learnifier_simulator.models import Participant, Project, User
from learnifier_simulator.seed import (
    DEMO_ORG_UNIT_ID,
    ONBOARDING_ACTIVITIES,
    ONBOARDING_DESIGN_ID,
)
from learnifier_simulator.tls import create_certificates, server_context

if TYPE_CHECKING:
    from learnifier_simulator.state import SimulatorState

#: Where bulk projects start: above the demo project (2001).
FIRST_BULK_PROJECT_ID = 10_001
FIRST_BULK_PARTICIPANT_ID = 100_001


def populate(state: SimulatorState, spec: dict[str, Any]) -> None:
    """Add bulk data straight into the state (much faster than through the API).

    :param spec: ``projects`` (count, in the demo org unit), ``participants`` per project,
        ``users`` in the account (each project's participants are drawn from them), and
        ``demo_participants``: participants added to the demo project, activated, with
        participation external ids ``bench-<n>`` and no activity completed (for the triggers).
    """
    rng = random.Random(20260101)
    created = datetime(2025, 1, 6, 8, 0, tzinfo=timezone.utc)
    user_count = int(spec.get("users", 0))
    users = [
        User(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            created,
            primary_email=f"employee{n}@acme.example",
            external_id=f"emp-{n:06d}",
            first_name=f"Employee{n}",
            last_name="Bench",
            display_name=f"Employee{n} Bench",
            locale="en",
            home_org=DEMO_ORG_UNIT_ID,
        )
        for n in range(max(user_count, int(spec.get("demo_participants", 0))))
    ]
    records: list[Any] = list(users)
    participant_id = FIRST_BULK_PARTICIPANT_ID
    per_project = int(spec.get("participants", 0))
    for index in range(int(spec.get("projects", 0))):
        project_id = FIRST_BULK_PROJECT_ID + index
        records.append(
            Project(
                project_id,
                DEMO_ORG_UNIT_ID,
                ONBOARDING_DESIGN_ID,
                f"Bench course {index + 1}",
                created,
                ONBOARDING_ACTIVITIES,
                status="ACTIVATED",
                external_id=f"bench-course-{index + 1}",
                locale="en",
                country="SE",
                timezone="Europe/Stockholm",
                user_title="Onboarding",
            )
        )
        for user in rng.sample(users, min(per_project, len(users))):
            activated = rng.random() < 0.9
            completed = rng.randint(0, ONBOARDING_ACTIVITIES) if activated else 0
            first = created + timedelta(days=rng.randint(1, 30)) if activated else None
            records.append(
                Participant(
                    participant_id,
                    project_id,
                    user.id,
                    ONBOARDING_ACTIVITIES,
                    external_id=f"p-{participant_id}",
                    activated=activated,
                    activities_completed=completed,
                    first_activation=first,
                    last_activation=first,
                    expiration=first + timedelta(days=365) if first else None,
                    first_access=first + timedelta(hours=2) if first and completed else None,
                    last_access=first + timedelta(days=3) if first and completed else None,
                )
            )
            participant_id += 1
    for n in range(int(spec.get("demo_participants", 0))):
        first = created + timedelta(days=1)
        records.append(
            Participant(
                participant_id,
                2001,
                users[n].id,
                ONBOARDING_ACTIVITIES,
                external_id=f"bench-{n}",
                activated=True,
                first_activation=first,
                last_activation=first,
                # The trigger benchmark waits on these: they must not expire (the completion check
                # fails at once for an expired participation, which can never be completed).
                expiration=datetime(2100, 1, 1, tzinfo=timezone.utc),
            )
        )
        participant_id += 1
    state.add_records(*records)


class _TrivialHandler(BaseHTTPRequestHandler):
    """Answers every GET with the same small JSON object, keep-alive, like the simulator's handler."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    body = json.dumps(
        {"id": 2001, "orgId": 1001, "name": "Acme Onboarding 2024", "status": "ACTIVATED"}
    ).encode()

    def do_GET(self) -> None:
        self.send_response_only(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _TrivialServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, ssl_context: Any) -> None:
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _TrivialHandler)

    def get_request(self) -> Any:
        connection, address = super().get_request()
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(connection, server_side=True)
        return connection, address


def _serve_trivial(options: dict[str, Any]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="learnifier-bench-trivial-"))
    try:
        context = None
        ca_file = None
        if options["tls"]:
            files = create_certificates(directory)
            context = server_context(files)
            ca_file = str(files.ca_file)
        server = _TrivialServer(context)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.server_address[1]
        scheme = "https" if options["tls"] else "http"
        _say(
            {
                "base_url": f"{scheme}://127.0.0.1:{port}",
                "ca_file": ca_file,
                "port": port,
                "key": "",
                "secret": "",
            }
        )
        for line in sys.stdin:
            _say({"result": None} if line.strip() else {"error": "empty command"})
        server.shutdown()
        server.server_close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _counts_only() -> bool:
    """Whether this simulator can count requests without recording them (cheaper, flat memory)."""
    return "record" in inspect.signature(LearnifierSimulator).parameters


def _command(simulator: LearnifierSimulator, message: dict[str, Any]) -> Any:
    command = message.get("command")
    if command == "counts":
        if _counts_only():
            counts = {f"{method} {path}": n for (method, path), n in simulator.request_counts.items()}
            unmatched = simulator.request_count - sum(counts.values())
            return counts | ({"unmatched": unmatched} if unmatched else {})
        return dict(
            Counter(
                f"{exchange.operation[0]} {exchange.operation[1]}" if exchange.operation else "unmatched"
                for exchange in simulator.exchanges
                if not exchange.control
            )
        )
    if command == "clear":
        if _counts_only():
            simulator.reset_request_counts()
        simulator.clear_exchanges()
        return None
    if command == "latency":
        simulator.latency = float(message["seconds"])
        return None
    if command == "rate_limit_counts":
        return simulator.rate_limit_counts | {"seconds": simulator.rate_limit_span}
    if command == "rate_limit_restart":
        simulator.rate_limit = simulator.rate_limit  # a new limiter: a full bucket, counts from zero
        return None
    if command == "state":
        snapshot = simulator.state.snapshot()
        return {
            "users": len(snapshot["users"]),
            "participants": len(snapshot["participants"]),
            "activated": sum(1 for p in snapshot["participants"] if p.get("activated")),
        }
    raise ValueError(f"unknown command {command!r}")


def main() -> None:
    options = json.loads(sys.argv[1])
    if options.get("trivial"):
        _serve_trivial(options)
        return
    extra: dict[str, Any] = {"record": False} if _counts_only() else {}
    if options.get("rate_limit"):
        extra["rate_limit"] = float(options["rate_limit"])
        extra["rate_limit_burst"] = options.get("rate_limit_burst")
    with LearnifierSimulator(
        seed="demo", tls=options["tls"], latency=options["latency"], **extra
    ) as simulator:
        populate(simulator.state, options.get("populate") or {})
        _say(
            {
                "base_url": simulator.base_url,
                "ca_file": simulator.ca_file,
                "port": simulator.port,
                "key": simulator.key,
                "secret": simulator.secret,
                "connection": simulator.connection_json(),
            }
        )
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                _say({"result": _command(simulator, json.loads(line))})
            except Exception as error:
                _say({"error": f"{type(error).__name__}: {error}"})


if __name__ == "__main__":
    main()
