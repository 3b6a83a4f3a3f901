"""A real SMTP server on loopback (aiosmtpd) that keeps the mails it accepts, for tests.

``SmtpSink`` is the handler; :func:`running_sink` starts it on a free loopback port and gives the
JSON of an Airflow SMTP connection to it (plain SMTP: no SSL, no STARTTLS).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: The sender the test connection names.
FROM_EMAIL = "training@acme.example"


@dataclass(frozen=True)
class Mail:
    """One mail the server accepted."""

    recipients: tuple[str, ...]
    subject: str
    html: str
    raw: bytes


class SmtpSink:
    """An aiosmtpd handler that keeps every accepted mail.

    :attr refuse: recipient addresses answered ``550`` (the mail is not taken).
    :attr on_mail: called with each mail once it is kept, before the server answers ``250``.
    """

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.refuse: set[str] = set()
        self.on_mail: Callable[[Mail], None] | None = None
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        html = ""
        for part in message.walk():
            if part.get_content_type() == "text/html":
                html = part.get_content()
        mail = Mail(tuple(envelope.rcpt_tos), str(message["Subject"]), html, envelope.content)
        with self._lock:
            self.mails.append(mail)
        if self.on_mail is not None:
            self.on_mail(mail)
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        """Every recipient of every mail kept, in order (one entry per delivery)."""
        with self._lock:
            return [recipient for mail in self.mails for recipient in mail.recipients]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_sink() -> Iterator[tuple[SmtpSink, str]]:
    """Run an :class:`SmtpSink` on loopback; yield it and its Airflow connection as JSON."""
    from aiosmtpd.controller import Controller

    # The test server's own protocol log (aiosmtpd's "mail.log", which quotes every address) is not
    # the operator's: keep it out of the task logs that the tests search for personal data.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": controller.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": FROM_EMAIL, "timeout": 10},
    }
    try:
        yield sink, json.dumps(connection)
    finally:
        controller.stop()
