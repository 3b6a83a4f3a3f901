"""What the transport takes from urllib3's and requests' private API is still there, and still used.

A new urllib3 that renamed ``_new_conn`` would not break a request: our override would simply
never be called, and attempts would lose their deadline without a sound. So these tests fail
loudly, naming the private part that is gone or no longer called, against real loopback sockets.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_learnifier.hooks._transport import urllib3_internals
from airflow_provider_learnifier.hooks._transport.deadline import WATCHDOG
from airflow_provider_learnifier.hooks._transport.urllib3_internals import (
    WatchedHTTPPool,
    WatchedHTTPSPool,
    set_content,
    watch_pools,
)
from learnifier_simulator import LearnifierSimulator

VERSIONS = f"urllib3 {urllib3.__version__}, requests {requests.__version__}"


def _missing() -> list[str]:
    """Each private name ``urllib3_internals`` relies on that this urllib3 or requests lacks."""
    relied_on = {
        "urllib3.connection.HTTPConnection._new_conn": callable(getattr(HTTPConnection, "_new_conn", None)),
        "urllib3.connection.HTTPSConnection._new_conn": callable(getattr(HTTPSConnection, "_new_conn", None)),
        "urllib3.connectionpool.HTTPConnectionPool._put_conn": callable(
            getattr(HTTPConnectionPool, "_put_conn", None)
        ),
        "urllib3.connectionpool.HTTPSConnectionPool._put_conn": callable(
            getattr(HTTPSConnectionPool, "_put_conn", None)
        ),
        "urllib3.PoolManager().pool_classes_by_scheme": isinstance(
            getattr(urllib3.PoolManager(), "pool_classes_by_scheme", None), dict
        ),
        "urllib3.ProxyManager().pool_classes_by_scheme": isinstance(
            getattr(urllib3.ProxyManager("http://127.0.0.1:9"), "pool_classes_by_scheme", None), dict
        ),
        "requests.Response()._content": hasattr(requests.Response(), "_content"),
        "requests.Response()._content_consumed": hasattr(requests.Response(), "_content_consumed"),
    }
    return [name for name, present in relied_on.items() if not present]


def test_every_private_name_relied_on_is_there():
    missing = _missing()
    assert missing == [], (
        f"{VERSIONS} lacks what hooks/_transport/urllib3_internals.py relies on: {', '.join(missing)}. "
        "Adapt that module (and the versions its docstring names) before allowing this version."
    )


def test_pool_managers_make_the_watched_pools():
    """``pool_classes_by_scheme`` is still what a (proxy) manager makes its pools from."""
    direct = urllib3.PoolManager()
    proxied = urllib3.ProxyManager("http://127.0.0.1:9")
    for manager in (direct, proxied):
        watch_pools(manager)
    made = {
        "PoolManager http": direct.connection_from_url("http://127.0.0.1:9/"),
        "PoolManager https": direct.connection_from_url("https://127.0.0.1:9/"),
        "ProxyManager http": proxied.connection_from_url("http://127.0.0.1:9/"),
        "ProxyManager https": proxied.connection_from_url("https://127.0.0.1:9/"),
    }
    wrong = {
        how: type(pool).__name__
        for how, pool in made.items()
        if not isinstance(pool, WatchedHTTPSPool if how.endswith("https") else WatchedHTTPPool)
    }
    assert wrong == {}, f"{VERSIONS}: pool_classes_by_scheme no longer decides the pools made: {wrong}"


def test_connections_are_watched_as_they_connect_are_reused_and_go_back(mocker, make_hook):
    """Over real sockets: ``_new_conn`` hands over the new socket, ``request`` the pooled one,
    ``_put_conn`` the connection going back to its pool (HTTPS and plain HTTP to loopback)."""
    attach = mocker.spy(WATCHDOG, "attach")
    release = mocker.spy(WATCHDOG, "release")
    for tls in (True, False):
        with LearnifierSimulator(tls=tls) as simulator:
            hook = make_hook(simulator, f"learnifier_internals_{tls}")
            for _ in range(2):
                attach.reset_mock()
                release.reset_mock()
                hook.list_org_units()
                # The first request connects (_new_conn, then request); the second reuses (request).
                assert attach.call_count >= 1, (
                    f"{VERSIONS}: no socket was put under the attempt's deadline "
                    "(is HTTPConnection._new_conn or .request still called?)"
                )
                assert all(isinstance(call.args[1], socket.socket) for call in attach.call_args_list)
                assert release.call_count >= 1, (
                    f"{VERSIONS}: the connection did not come back through HTTPConnectionPool._put_conn"
                )
            hook.close()


def test_the_new_connection_is_watched_before_its_tls_handshake(mocker):
    """``_new_conn`` is still called by ``connect`` (before the handshake, which the deadline covers)."""
    seen: list[str] = []
    mocker.patch.object(WATCHDOG, "attach", lambda connection, sock: seen.append(type(connection).__name__))
    with LearnifierSimulator(tls=True) as simulator:
        host = urlsplit(simulator.base_url).hostname
        pool = WatchedHTTPSPool(
            host, simulator.port, cert_reqs="CERT_REQUIRED", ca_certs=str(simulator.ca_file)
        )
        pool.urlopen("GET", "/orgunits", retries=False)
        pool.close()
    assert seen[:1] == ["WatchedHTTPSConnection"], (
        f"{VERSIONS}: HTTPSConnection.connect no longer calls _new_conn"
    )


def test_a_body_handed_to_requests_reads_as_one_it_read_itself():
    response = requests.Response()
    response.status_code = 200
    response.encoding = "utf-8"
    set_content(response, b'{"orgUnits": []}')
    assert response.content == b'{"orgUnits": []}'
    assert response.text == '{"orgUnits": []}'
    assert response.json() == {"orgUnits": []}
    assert b"".join(response.iter_content(4)) == b'{"orgUnits": []}', (
        f"{VERSIONS}: requests no longer serves a body set as Response._content/_content_consumed"
    )


def test_nothing_else_in_the_provider_uses_a_private_name_of_urllib3_or_requests():
    """The one module is the only one: a private name used elsewhere would escape these tests."""
    package = Path(urllib3_internals.__file__).resolve().parents[2]
    private = re.compile(
        r"\._(new_conn|put_conn|get_conn|content|content_consumed|make_request|validate_conn|prepare_proxy"
        r"|original_response|fp)\b|pool_classes_by_scheme|urllib3\.util\.ssl_|(urllib3|requests)[\w.]*\._[a-z]"
    )
    users = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "urllib3_internals.py" and private.search(path.read_text(encoding="utf-8"))
    )
    assert users == []
