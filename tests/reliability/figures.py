"""The figures of the fault-injection suite: one line per case, printed at the end of the session.

Each case of ``test_faults.py`` records a :class:`Figure` (whether the case passed or not) with
:func:`record`. ``conftest.py`` prints them in pytest's terminal summary, so that CI logs show
them, and, when ``LEARNIFIER_RELIABILITY_DOC`` names a Markdown file, rewrites the table between
the markers of that file (``docs/reliability.md``)::

    LEARNIFIER_RELIABILITY_DOC=docs/reliability.md .venv/bin/python -m pytest tests/reliability
"""

from __future__ import annotations

import platform
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

DOC_VARIABLE = "LEARNIFIER_RELIABILITY_DOC"
START_MARKER = "<!-- reliability:results:start (written by the suite; edit outside these markers) -->"
END_MARKER = "<!-- reliability:results:end -->"


@dataclass
class Figure:
    """What one fault case did.

    :param workflow: ``enrollment`` or ``report``.
    :param case: the fault case, e.g. ``errors``.
    :param faults: the configured faults, in words.
    :param requests: API requests the simulator handled during the run.
    :param injected: faults injected, by kind.
    :param hook_retries: requests the hook sent again (after a wait) within a task attempt.
    :param attempts: task attempts Airflow made.
    :param max_attempts: the attempts the task's ``retries`` allow.
    :param seconds: the run's wall time.
    :param result: ``ok: ...`` or what was wrong with the end state.
    """

    workflow: str
    case: str
    faults: str
    requests: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    hook_retries: int = 0
    attempts: int = 0
    max_attempts: int = 0
    seconds: float = 0.0
    result: str = "not run"

    @property
    def ok(self) -> bool:
        return self.result.startswith("ok")

    def injected_text(self) -> str:
        total = sum(self.injected.values())
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.injected.items()))
        return f"{total} ({kinds})" if kinds else "0"

    def line(self) -> str:
        return (
            f"{self.workflow:<10} {self.case:<11} requests {self.requests:>5}  "
            f"faults {self.injected_text()}  hook retries {self.hook_retries}  "
            f"task attempts {self.attempts}/{self.max_attempts}  {self.seconds:.1f} s  -> {self.result}"
        )


_lock = threading.Lock()
FIGURES: list[Figure] = []


def record(figure: Figure) -> None:
    """Keep ``figure`` for the end-of-session summary."""
    with _lock:
        FIGURES.append(figure)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(figures: list[Figure]) -> str:
    """The figures as a Markdown table, with the environment they were measured in."""
    import airflow

    from airflow_provider_learnifier import __version__

    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when}: airflow-provider-learnifier {__version__}, Airflow {airflow.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}.",
        "",
        "| workflow | case | faults configured | API requests | faults injected | hook retries "
        "| task attempts (max) | wall time | outcome |",
        "|---|---|---|---:|---|---:|---|---:|---|",
    ]
    for figure in figures:
        lines.append(
            f"| {figure.workflow} | {figure.case} | {_cell(figure.faults)} | {figure.requests} "
            f"| {_cell(figure.injected_text())} | {figure.hook_retries} "
            f"| {figure.attempts} ({figure.max_attempts}) | {figure.seconds:.1f} s | {_cell(figure.result)} |"
        )
    return "\n".join(lines)


def rewrite_doc(path: Path, figures: list[Figure]) -> None:
    """Replace the table between the markers of ``path`` with ``figures``.

    :raises ValueError: when the file lacks the markers.
    """
    text = path.read_text(encoding="utf-8")
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {START_MARKER!r} ... {END_MARKER!r} block to rewrite")
    table = markdown_table(figures)
    path.write_text(
        text[: start + len(START_MARKER)] + "\n" + table + "\n" + text[end:],
        encoding="utf-8",
    )
