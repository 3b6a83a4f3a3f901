"""Profile a benchmark with py-spy: where the CPU time goes, per process, per package and per function.

    .venv/bin/python bench/profile_cpu.py enrollment --quick
    .venv/bin/python bench/profile_cpu.py report_export --runs 1 --out /tmp/report-profile

Runs ``bench/<name>.py`` with the given options under ``py-spy record --subprocesses`` (so the
simulator process and export subprocesses are sampled too), keeps the raw samples
(``<out>/<name>.raw.txt``, collapsed stacks, usable with flamegraph tools) and writes a summary
(``<out>/<name>.txt``): for each process, its CPU seconds, the packages they were spent in, the
functions that spent them (self time), and the provider's functions with their cumulative time.
By default only the thread holding the GIL is sampled (``py-spy --gil``): the Python CPU time,
without the waits, so a latency-bound run shows what the interpreter did meanwhile (py-spy's
idle detection counts threads blocked in TLS reads as busy; ``--all-threads`` samples them anyway).
``py-spy`` comes from ``bench/requirements.txt`` (``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, REPO

PACKAGE = "airflow_provider_learnifier"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def package_of(path: str) -> str:
    """A short name for where a frame's code lives: our package, a site-package, or the standard library."""
    if f"/{PACKAGE}/" in path:
        return PACKAGE
    if "/bench/" in path:
        return "bench"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python" in path:
        rest = path.split("/lib/python", 1)[1].split("/", 1)[-1]
        return "stdlib:" + rest.split("/", 1)[0].removesuffix(".py")
    return path.rsplit("/", 1)[-1] or "?"


def role_of(process_frame: str) -> str:
    if "_simserver.py" in process_frame:
        return "simulator process"
    if "--child" in process_frame or "-c" in process_frame.split('"', 2)[1].split():
        return "benchmark child process"
    return "benchmark process (client)"


def summarize(raw: Path, rate: int, top: int = 20) -> str:
    samples_by_role: Counter[str] = Counter()
    self_time: dict[str, Counter[str]] = defaultdict(Counter)
    packages: dict[str, Counter[str]] = defaultdict(Counter)
    ours_cumulative: dict[str, Counter[str]] = defaultdict(Counter)
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        processes = [frame for frame in frames if frame.startswith("process ")]
        role = role_of(processes[-1]) if processes else "process"
        code = [frame for frame in frames if not frame.startswith(("process ", "thread "))]
        if not code:
            continue
        samples_by_role[role] += count
        leaf = _FRAME.match(code[-1])
        leaf_file = leaf.group("file") if leaf else "?"
        leaf_name = (
            f"{leaf.group('function')} ({package_of(leaf_file)}: {Path(leaf_file).name})"
            if leaf
            else code[-1]
        )
        self_time[role][leaf_name] += count
        packages[role][package_of(leaf_file)] += count
        seen = set()
        for frame in code:
            match = _FRAME.match(frame)
            if match and f"/{PACKAGE}/" in match.group("file"):
                name = f"{match.group('function')} ({Path(match.group('file')).name})"
                if name not in seen:
                    seen.add(name)
                    ours_cumulative[role][name] += count
    lines = [f"py-spy samples at {rate} Hz; CPU seconds = samples / {rate}.", ""]
    for role, total in samples_by_role.most_common():
        lines.append(f"== {role}: {total / rate:.2f} CPU s ({total} samples)")
        lines.append("  by package (self time):")
        for name, count in packages[role].most_common(12):
            lines.append(f"    {100 * count / total:5.1f}%  {name}")
        lines.append("  functions (self time):")
        for name, count in self_time[role].most_common(top):
            lines.append(f"    {100 * count / total:5.1f}%  {name}")
        if ours_cumulative[role]:
            lines.append(f"  {PACKAGE} functions (cumulative time):")
            for name, count in ours_cumulative[role].most_common(top):
                lines.append(f"    {100 * count / total:5.1f}%  {name}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    options.add_argument("benchmark", help="the benchmark script's name, e.g. enrollment")
    options.add_argument(
        "--out", type=Path, default=None, help="directory for the profile (default: a temporary one)"
    )
    options.add_argument("--rate", type=int, default=200, help="samples per second (default 200)")
    options.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread that py-spy thinks is busy, not only the one holding the GIL (threads "
        "blocked in TLS reads are then often counted as busy)",
    )
    args, passthrough = options.parse_known_args()
    script = BENCH_DIR / f"{args.benchmark}.py"
    if not script.exists():
        raise SystemExit(f"no benchmark {script}")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: pip install -r bench/requirements.txt (make bench does)")
    out = args.out or Path(tempfile.mkdtemp(prefix="learnifier-bench-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{args.benchmark}.raw.txt"
    command = [
        py_spy, "record", "--subprocesses", "--full-filenames", "--rate", str(args.rate),
        "--format", "raw", "--output", str(raw), *([] if args.all_threads else ["--gil"]),
        "--", sys.executable, str(script), *passthrough,
    ]  # fmt: skip
    print(" ".join(command), flush=True)
    subprocess.run(command, cwd=REPO, check=True)
    summary = summarize(raw, args.rate)
    (out / f"{args.benchmark}.txt").write_text(summary + "\n", encoding="utf-8")
    print(summary)
    print(f"Profile: {out / (args.benchmark + '.txt')} (raw samples: {raw})")


if __name__ == "__main__":
    main()
