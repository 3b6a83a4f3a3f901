"""Throwaway PostgreSQL and Redis servers on loopback, for a distributed Airflow deployment.

``make test-distributed`` runs Airflow's metadata database on :class:`PostgresServer` and its
Celery broker on :class:`RedisServer` (``scripts/airflow_deployment.py``). Both run the servers of
Debian's packages (``scripts/install_distributed_services.sh`` installs them), each in a temporary
directory of its own, on a free port of 127.0.0.1 with a password made for the run, and both are
context managers: leaving stops the server and removes its directory, on failure too.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user that
Debian's package creates (``nobody`` without it), and its directory is theirs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from scripts.airflow_deployment import StartedWhileEntered, free_port, wait_until

#: How long a server may take to start on a busy machine.
START_TIMEOUT = 120


def postgres_bin_dir() -> Path:
    """The newest PostgreSQL server's ``bin`` folder (Debian keeps them off PATH)."""
    versions = sorted(
        (folder for folder in Path("/usr/lib/postgresql").glob("*/bin") if (folder / "initdb").exists()),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise FileNotFoundError("no PostgreSQL server found: run scripts/install_distributed_services.sh")


def _server_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as when this process is root, else ``None`` (this user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


class LoopbackServer(StartedWhileEntered):
    """A server in a temporary folder of its own (:attr:`root`), logging to ``server.log`` there."""

    root: Path | None = None

    def in_root(self, name: str) -> Path:
        """A path in the server's folder."""
        assert self.root is not None, "the server was not started"
        return self.root / name

    def log(self) -> str:
        """The end of the server's log."""
        path = self.root / "server.log" if self.root else None
        return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""


class PostgresServer(LoopbackServer):
    """A PostgreSQL cluster made by ``initdb`` in a temporary folder, run by ``pg_ctl``.

    :param database: the database to create, owned by the superuser ``user``.
    """

    def __init__(self, database: str = "airflow", user: str = "airflow") -> None:
        self.database = database
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.bin_dir = postgres_bin_dir()
        self.root: Path | None = None
        self._running = False
        self._run_as = _server_user()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database (psycopg2)."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.in_root("data")

    def _server_command(self, *command: str | Path, timeout: float = START_TIMEOUT) -> None:
        """Run one of the server's programs as the server's user; raise with its output if it fails."""
        done = subprocess.run(
            [str(part) for part in command],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            start_new_session=True,
            check=False,
            user=self._run_as.pw_uid if self._run_as else None,
            group=self._run_as.pw_gid if self._run_as else None,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(str(command[0])).name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}

    def _client_args(self) -> list[str]:
        return ["--host=127.0.0.1", f"--port={self.port}", f"--username={self.user}"]

    def start(self) -> None:
        # As another user, in /tmp: the server's user may not reach into TMPDIR (root's, say).
        parent = "/tmp" if self._run_as else None
        self.root = Path(tempfile.mkdtemp(prefix="learnifier-postgres-", dir=parent))
        if self._run_as:
            os.chown(self.root, self._run_as.pw_uid, self._run_as.pw_gid)
        password_file = self.root / "password"
        password_file.write_text(self.password)
        if self._run_as:
            os.chown(password_file, self._run_as.pw_uid, self._run_as.pw_gid)
        self._server_command(
            self.bin_dir / "initdb",
            f"--pgdata={self.data_dir}",
            f"--username={self.user}",
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        )
        password_file.unlink()
        # A throwaway database: no durability, loopback only, its socket in its own folder.
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._running = True
        # -w: pg_ctl returns when the server accepts connections (or fails after -t seconds).
        self._server_command(
            self.bin_dir / "pg_ctl",
            f"--pgdata={self.data_dir}",
            f"--log={self.root / 'server.log'}",
            f"--options={options}",
            "--wait",
            f"--timeout={START_TIMEOUT}",
            "start",
        )
        created = subprocess.run(
            [str(self.bin_dir / "createdb"), *self._client_args(), self.database],
            env=self._client_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"createdb failed: {created.stderr[-2000:]}\n{self.log()}")

    def dump(self) -> str:
        """The database as SQL (``pg_dump``: schema and every row)."""
        done = subprocess.run(
            [str(self.bin_dir / "pg_dump"), *self._client_args(), "--no-password", self.database],
            env=self._client_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {done.stderr[-2000:]}")
        return done.stdout

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL to the postmaster) and remove its folder."""
        if self._running:
            self._running = False
            try:
                self._server_command(
                    self.bin_dir / "pg_ctl",
                    f"--pgdata={self.data_dir}",
                    "--mode=fast",
                    "--wait",
                    "stop",
                    timeout=60,
                )
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _kill_postmaster(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().splitlines()[0]), 9)


class RedisServer(LoopbackServer):
    """``redis-server`` in a temporary folder, with a password and no persistence.

    :meth:`start_monitor` records every command the server runs (``MONITOR``) into a file:
    everything a client wrote, including the messages a broker passed on and deleted since.
    """

    def __init__(self) -> None:
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.root: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.monitor: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The Redis URL of database 0."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def monitor_file(self) -> Path:
        return self.in_root("monitor.log")

    def _cli(self, *args: str) -> list[str]:
        return ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args]

    def _cli_env(self) -> dict[str, str]:
        # REDISCLI_AUTH: the password never appears on a command line (ps shows those).
        return {**os.environ, "REDISCLI_AUTH": self.password}

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise FileNotFoundError("no redis-server found: run scripts/install_distributed_services.sh")
        self.root = Path(tempfile.mkdtemp(prefix="learnifier-redis-"))
        config = self.root / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.root}",
                    f"requirepass {self.password}",
                    'save ""',
                    "appendonly no",
                    "daemonize no",
                    f"logfile {self.root / 'server.log'}",
                ]
            )
            + "\n"
        )
        config.chmod(0o600)
        self.process = subprocess.Popen(
            [server, str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.process.returncode}):\n{self.log()}")
            ping = subprocess.run(
                self._cli("ping"),
                env=self._cli_env(),
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            return ping.stdout.strip() == "PONG"

        wait_until(answers, START_TIMEOUT, "redis-server to answer PING", interval=0.2)

    def start_monitor(self) -> None:
        """Record every command from now on into :attr:`monitor_file`."""
        with self.monitor_file.open("ab") as output:
            self.monitor = subprocess.Popen(
                self._cli("monitor"),
                env=self._cli_env(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: self.monitor_file.stat().st_size > 0, START_TIMEOUT, "redis-cli monitor to start")

    def monitored(self) -> str:
        """What the monitor recorded so far."""
        return self.monitor_file.read_text(errors="replace") if self.monitor_file.exists() else ""

    def dump(self) -> dict[str, Any]:
        """Every key of every database with its value, read through the redis client."""
        import redis

        contents: dict[str, Any] = {}
        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=30)
        try:
            keyspace: dict[str, Any] = client.info("keyspace")  # type: ignore[assignment]
            for db_name in keyspace:
                number = int(re.sub(r"\D", "", db_name))
                db = redis.Redis(
                    host="127.0.0.1", port=self.port, password=self.password, db=number, socket_timeout=30
                )
                with contextlib.closing(db):
                    for key in db.scan_iter(count=500):
                        contents[f"{db_name}:{key.decode(errors='replace')}"] = self._value(db, key)
        finally:
            client.close()
        return contents

    @staticmethod
    def _value(db: Any, key: bytes) -> Any:
        kind = db.type(key).decode()
        readers = {
            "string": db.get,
            "list": lambda k: db.lrange(k, 0, -1),
            "set": db.smembers,
            "zset": lambda k: db.zrange(k, 0, -1, withscores=True),
            "hash": db.hgetall,
            "stream": lambda k: db.xrange(k),
        }
        reader = readers.get(kind)
        return reader(key) if reader else f"<{kind}>"

    def stop(self) -> None:
        """Stop the monitor and the server (SIGTERM, then SIGKILL) and remove the folder."""
        for process in (self.monitor, self.process):
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.monitor = self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
