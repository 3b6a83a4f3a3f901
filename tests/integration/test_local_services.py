"""The throwaway PostgreSQL and Redis servers of the distributed deployment test.

``scripts/local_services.py``: each listens on 127.0.0.1 only, refuses a client without its
password, and leaves no process and no folder behind. Marked ``distributed``: the servers come
from Debian's packages, which ``make test-distributed`` installs.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from scripts.airflow_deployment import wait_until
from scripts.local_services import PostgresServer, RedisServer

pytestmark = pytest.mark.distributed


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_postgres_runs_on_loopback_with_a_password_and_leaves_nothing_behind():
    import psycopg2

    with PostgresServer() as server:
        root = server.root
        assert root is not None
        postmaster = int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])
        address = {"host": "127.0.0.1", "port": server.port, "dbname": server.database, "user": server.user}
        connection = psycopg2.connect(password=server.password, **address)
        with connection, connection.cursor() as cursor:  # commits
            cursor.execute("SHOW listen_addresses")
            assert cursor.fetchone() == ("127.0.0.1",)
            cursor.execute("CREATE TABLE marker (value text); INSERT INTO marker VALUES ('written')")
        connection.close()
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(password="not-the-password", **address)
        assert "COPY public.marker (value) FROM stdin;\nwritten\n" in server.dump()
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as another user
            uid = int(Path(f"/proc/{postmaster}/status").read_text().split("Uid:\t")[1].split()[0])
            assert pwd.getpwuid(uid).pw_name != "root"
    assert not root.exists()
    assert not _alive(postmaster)


def test_redis_runs_on_loopback_with_a_password_and_records_every_command():
    import redis

    with RedisServer() as server:
        root = server.root
        assert root is not None and server.process is not None
        pid = server.process.pid
        client = redis.Redis.from_url(server.url, socket_timeout=30)
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=30).get("anything")
        server.start_monitor()
        client.rpush("queue", "message")
        client.set("key", "value")
        wait_until(lambda: '"SET" "key" "value"' in server.monitored(), 60, "the monitor to record SET")
        assert '"RPUSH" "queue" "message"' in server.monitored()
        assert server.password not in server.monitored()
        assert server.dump() == {"db0:queue": [b"message"], "db0:key": b"value"}
        client.close()
    assert not root.exists()
    assert not _alive(pid)
