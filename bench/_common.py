"""What the benchmarks share: options, statistics, results, and a simulator in its own process.

Every benchmark script measures its own figure and its baseline in the same run, alternating
between them where it can, and reports medians of several runs as one JSON document (see
:class:`Report`). ``bench/run_all.py`` runs the scripts and writes the table of
``docs/benchmarks.md``.

The simulator runs in a separate process (:class:`SimulatorProcess`, driven by
``bench/_simserver.py``), as a real Learnifier would: its CPU time and memory are not the
client's, and the client's figures are not blurred by the server sharing its interpreter.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

#: The demo seed's organization unit and project (see ``learnifier_simulator.seed``).
DEMO_ORG_UNIT_ID = 1001
DEMO_PROJECT_ID = 2001

#: Version of the JSON that the scripts write; ``run_all.py`` and the tests check it.
SCHEMA_VERSION = 1


# ---------------------------------------------------------------------- options and environment


def parser(description: str, *, runs: int, quick_runs: int = 1) -> argparse.ArgumentParser:
    """The options every benchmark script takes: ``--quick``, ``--runs`` and ``--json``."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--quick", action="store_true", help="a small, fast version for CI")
    result.add_argument(
        "--runs",
        type=int,
        default=None,
        help=f"measured runs of each side (default {runs}, {quick_runs} with --quick)",
    )
    result.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    result.set_defaults(default_runs=runs, default_quick_runs=quick_runs)
    return result


def runs_of(args: argparse.Namespace) -> int:
    """The number of runs the options ask for."""
    if args.runs is not None:
        if args.runs < 1:
            raise SystemExit("--runs must be at least 1")
        return int(args.runs)
    return int(args.default_quick_runs if args.quick else args.default_runs)


def isolate_airflow() -> str:
    """Give this process (and its children) a throwaway Airflow home; return it.

    Called before anything imports Airflow, so that no benchmark reads or writes ``~/airflow``.
    """
    home = os.environ.get("LEARNIFIER_BENCH_AIRFLOW_HOME")
    if not home:
        home = tempfile.mkdtemp(prefix="learnifier-bench-airflow-")
        os.environ["LEARNIFIER_BENCH_AIRFLOW_HOME"] = home
        atexit.register(shutil.rmtree, home, True)  # children reuse it; the creator removes it
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_"):
            del os.environ[name]
    return home


# ---------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    """The median; ``nan`` for no values."""
    values = list(values)
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile, linearly interpolated; ``nan`` for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rss_mib() -> float:
    """This process's resident memory now, in MiB."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    return _status_kib("VmHWM") / 1024


def _status_kib(field_name: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return float(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of another process (all its threads), from ``/proc``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# ---------------------------------------------------------------------- results


@dataclass
class Metric:
    """One line of the table: our figure, its baseline, their ratio and the target.

    :param name: what is measured, e.g. ``import time added``.
    :param unit: the unit of ``ours`` and ``baseline``.
    :param ours: our median.
    :param baseline: the baseline's median (``None`` when the line has none).
    :param baseline_name: what the baseline is.
    :param ratio: how many times better ours is (``baseline / ours`` when lower is better,
        ``ours / baseline`` when higher is better), or as ``ratio_label`` says.
    :param ratio_label: how to read ``ratio``.
    :param target: the target, in words, e.g. ``<= 20 ms``.
    :param met: whether the target is met; ``None`` for lines without a target.
    :param samples: the raw samples of each side, by name.
    """

    name: str
    unit: str
    ours: float | None
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    ratio_label: str = ""
    target: str = ""
    met: bool | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Report:
    """What one benchmark script found."""

    benchmark: str
    title: str
    quick: bool
    runs: int
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    seconds: float = 0.0
    schema: int = SCHEMA_VERSION

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def to_json(self) -> dict[str, Any]:
        return _finite(asdict(self))

    def emit(self, args: argparse.Namespace, started: float) -> None:
        """Print the result for people, and write it as JSON when ``--json`` was given."""
        self.seconds = round(time.perf_counter() - started, 2)
        print(
            f"\n== {self.title} ({'quick, ' if self.quick else ''}{self.runs} run(s), {self.seconds:.0f} s)"
        )
        for metric in self.metrics:
            print("  " + describe(metric))
        for note in self.notes:
            print(f"  note: {note}")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


def describe(metric: Metric) -> str:
    """One metric as a line of text."""
    text = f"{metric.name}: {fmt(metric.ours)} {metric.unit}"
    if metric.baseline is not None:
        text += f" vs {fmt(metric.baseline)} {metric.unit} ({metric.baseline_name})"
    if metric.ratio is not None:
        text += f"; {fmt(metric.ratio)}{metric.ratio_label}"
    if metric.target:
        verdict = {True: "met", False: "NOT met", None: "n/a"}[metric.met]
        text += f"; target {metric.target}: {verdict}"
    return text


def fmt(value: float | None) -> str:
    """A number with about three significant figures."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(better_is: str, ours: float, baseline: float) -> float | None:
    """How many times better ours is than the baseline."""
    if not ours or not baseline or math.isnan(ours) or math.isnan(baseline):
        return None
    return baseline / ours if better_is == "lower" else ours / baseline


def _finite(value: Any) -> Any:
    """Replace NaN and infinities by ``None``, so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def alternate(sides: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[Any]]:
    """Run each side ``runs`` times, interleaved (ABAB..., then BABA... on odd runs) against drift."""
    results: dict[str, list[Any]] = {name: [] for name in sides}
    names = list(sides)
    for run in range(runs):
        for name in names if run % 2 == 0 else reversed(names):
            results[name].append(sides[name]())
    return results


# ---------------------------------------------------------------------- the simulator in its own process


class SimulatorProcess:
    """A Learnifier simulator served by another process, with a small control channel.

    :param latency: seconds the simulator waits before answering each API request.
    :param tls: serve HTTPS (as Learnifier does) with a CA made at start.
    :param populate: bulk data to add before serving: ``{"projects", "participants", "users",
        "participation_external_ids", "activated"}`` (see ``_simserver.populate``).
    :param trivial: serve a trivial fixed answer instead of the simulator (a capacity baseline).
    :param rate_limit: allow this many API requests per second (a token bucket; 429 with
        ``Retry-After`` beyond it); ``None`` for no limit.
    :param rate_limit_burst: how many requests that bucket holds (default one second's worth).
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        tls: bool = True,
        populate: dict[str, Any] | None = None,
        trivial: bool = False,
        rate_limit: float | None = None,
        rate_limit_burst: float | None = None,
    ) -> None:
        self.options = {
            "latency": latency,
            "tls": tls,
            "populate": populate or {},
            "trivial": trivial,
            "rate_limit": rate_limit,
            "rate_limit_burst": rate_limit_burst,
        }
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self._trust_store: Path | None = None

    def __enter__(self) -> SimulatorProcess:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "_simserver.py"), json.dumps(self.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            self.process.wait(timeout=30)
            raise RuntimeError(f"the simulator process exited with {self.process.returncode} before serving")
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is None:
            return
        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            if self.process.stdout:
                self.process.stdout.close()
            self.process = None
            if self._trust_store is not None:
                self._trust_store.unlink(missing_ok=True)
                self._trust_store = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def ca_file(self) -> str | None:
        return self.info.get("ca_file")

    @property
    def key(self) -> str:
        return str(self.info["key"])

    @property
    def secret(self) -> str:
        return str(self.info["secret"])

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def connection_json(self, *, full_trust_store: bool = False) -> str:
        """The ``learnifier`` Airflow connection to this simulator, as JSON for ``AIRFLOW_CONN_...``.

        :param full_trust_store: verify with a CA bundle as large as the system's (the system's
            bundle plus the simulator's CA), so that each TLS context costs what it costs with
            ``verify=true`` against the real Learnifier; by default only the simulator's CA.
        """
        if not full_trust_store or not self.ca_file:
            return str(self.info["connection"])
        connection = json.loads(self.info["connection"])
        connection["extra"]["verify"] = self.full_trust_store()
        return json.dumps(connection)

    def full_trust_store(self) -> str:
        """A CA bundle file: the system's trusted CAs plus the simulator's CA (made once)."""
        import ssl

        path = Path(tempfile.gettempdir()) / f"learnifier-bench-trust-{self.pid}.pem"
        if not path.exists():
            system = ssl.get_default_verify_paths().cafile
            if not system or not Path(system).exists():
                import certifi

                system = certifi.where()
            assert self.ca_file is not None
            path.write_bytes(Path(system).read_bytes() + b"\n" + Path(self.ca_file).read_bytes())
            self._trust_store = path
        return str(path)

    def call(self, command: str, **arguments: Any) -> Any:
        """Send a control command (``counts``, ``clear``, ``latency``, ``cpu``) and return its answer."""
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"command": command, **arguments}) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"simulator command {command!r} failed: {answer['error']}")
        return answer["result"]

    def api_requests(self) -> dict[str, int]:
        """How many API requests of each operation it handled since the last :meth:`clear`."""
        return dict(self.call("counts"))

    def clear(self) -> None:
        """Forget the recorded requests (they cost the simulator memory)."""
        self.call("clear")

    def rate_limit_counts(self) -> dict[str, float]:
        """How many API requests the rate limit ``admitted`` and ``refused`` (429) so far, and the
        ``seconds`` from the first to the last, measured by the server."""
        return dict(self.call("rate_limit_counts"))

    def restart_rate_limit(self) -> None:
        """The same rate limit again, with a full bucket, counting from zero (after a warm-up)."""
        self.call("rate_limit_restart")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


# ---------------------------------------------------------------------- the machine


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU, memory, Python, Airflow and library versions."""
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "-"
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            kib = int(meminfo.readline().split()[1])
            memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.CalledProcessError):
        commit = "-"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "load_average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "task_sdk": version("apache-airflow-task-sdk"),
        "http_provider": version("apache-airflow-providers-http"),
        "requests": version("requests"),
        "urllib3": version("urllib3"),
        "provider": version("airflow-provider-learnifier"),
        "commit": commit,
    }


class StubTaskInstance:
    """Just enough of a task instance for ``execute(context)`` outside a DAG run: XCom pushes are kept."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value
