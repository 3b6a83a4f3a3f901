"""Every use of urllib3's and requests' private API in the provider, in one place.

The attempt deadlines (:mod:`~airflow_provider_learnifier.hooks._transport.deadline`) need what
neither library offers publicly: each connection's socket as it is made (``_new_conn``), the moment
a connection goes back to its pool (``_put_conn``), and pool managers that make pools of our classes
(``pool_classes_by_scheme``). The hook reads bodies itself and hands them to ``requests`` as
``Response._content`` and ``_content_consumed``. Nothing else in the provider uses an underscore
name of urllib3 or requests.

Tested with urllib3 2.0.2 and requests 2.31.0 (``constraints/lowest-direct-py3.11.txt``) and with
urllib3 2.8.0 and requests 2.34.2 (every other file in ``constraints/``).
``tests/hooks/_transport/test_urllib3_internals.py`` fails, naming what is missing, when a version
removes, renames or stops calling any of them. See ``docs/reliability.md`` for the deadlines.

Imports ``urllib3`` and ``requests``: import this module where a session is made or a body read.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_learnifier.hooks._transport.deadline import WATCHDOG

if TYPE_CHECKING:
    import requests


class WatchedConnection:
    """A connection whose socket the attempt's deadline watches (see :data:`WATCHDOG`).

    A new connection's socket is watched from the moment it is connected (the TLS handshake
    included); a pooled connection's from the moment it is used again.
    """

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        WATCHDOG.attach(self, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            WATCHDOG.attach(self, sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(WatchedConnection, HTTPConnection):
    pass


class WatchedHTTPSConnection(WatchedConnection, HTTPSConnection):
    pass


class WatchedPool:
    """A connection pool that takes a connection from the attempt's watch as it comes back."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            WATCHDOG.release(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class WatchedHTTPPool(WatchedPool, HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(WatchedPool, HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


def watch_pools(manager: Any) -> None:
    """Have a urllib3 pool manager (or proxy manager) make watched pools from now on."""
    manager.pool_classes_by_scheme = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


def set_content(response: requests.Response, content: bytes) -> None:
    """Give ``response`` the body the hook read, as ``requests`` holds a body it read itself."""
    response._content = content
    response._content_consumed = True  # type: ignore[attr-defined]
