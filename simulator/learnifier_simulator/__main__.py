"""Command line: run the simulator until interrupted.

    python -m learnifier_simulator --seed demo --ready-file /tmp/sim.json

It prints the base URL, the CA file and an ``export AIRFLOW_CONN_LEARNIFIER_DEFAULT=...`` line to
paste into the shell that runs Airflow, and stops cleanly on SIGINT or SIGTERM.

Unlike :class:`~learnifier_simulator.LearnifierSimulator`, the command line does
not record exchanges by default: it runs for hours, and recording would grow without bound. It
counts requests either way (``GET /_simulator/requests``). ``--record`` keeps the newest
``--max-exchanges`` exchanges (1000 by default), readable at ``GET /_simulator/exchanges``.

``--spec-variants SEED`` varies the answers in every way the spec permits (see
:class:`~learnifier_simulator.SpecVariants`); ``--users-page-cap N``,
``--ignore-undeclared-fields`` and ``--no-paging-headers`` take one freedom alone, or adjust
``--spec-variants``.

``--state-dir DIR`` keeps the CA, the server certificate, the port and the data in ``DIR`` (see
:mod:`~learnifier_simulator.persistence`): after a restart with the same
directory the printed connection is the same and still works, and the data is as it was at the
last stop.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from learnifier_simulator.faults import FaultConfig
from learnifier_simulator.runner import LearnifierSimulator, is_loopback
from learnifier_simulator.seed import SEED_NAMES
from learnifier_simulator.variants import SpecVariants

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

#: How many exchanges ``--record`` keeps unless ``--max-exchanges`` says otherwise.
DEFAULT_CLI_MAX_EXCHANGES = 1000


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the command line options."""
    parser = argparse.ArgumentParser(
        prog="learnifier-simulator",
        description="Run a local simulator of Learnifier's Admin API.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--key",
        default=os.environ.get("LEARNIFIER_SIM_KEY", "sim-key"),
        help="API key to accept (default: $LEARNIFIER_SIM_KEY or sim-key)",
    )
    parser.add_argument(
        "--secret",
        default=os.environ.get("LEARNIFIER_SIM_SECRET", "sim-secret"),
        help="API secret to accept (default: $LEARNIFIER_SIM_SECRET or sim-secret)",
    )
    parser.add_argument(
        "--seed", choices=[*SEED_NAMES, "none"], default="demo", help="seed data (default: %(default)s)"
    )
    parser.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="milliseconds added to every API answer"
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="RPS",
        help="allow RPS API requests per second (a token bucket holding one second's worth); beyond it, "
        "answer 429 with Retry-After in whole seconds (default: no limit)",
    )
    parser.add_argument(
        "--rate-limit-burst",
        type=float,
        metavar="N",
        help="how many requests the --rate-limit bucket holds (default: one second's worth)",
    )
    faults = parser.add_argument_group("random faults (rates are probabilities per request)")
    faults.add_argument("--error-rate", type=float, default=0.0, help="answer 500, 502 or 503")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, help="answer 429 with Retry-After")
    faults.add_argument("--retry-after", type=int, default=1, help="seconds in Retry-After (default: 1)")
    faults.add_argument("--drop-rate", type=float, default=0.0, help="close the connection without an answer")
    faults.add_argument(
        "--drop-after-share", type=float, default=0.0, help="share of drops made after applying the request"
    )
    faults.add_argument("--slow-rate", type=float, default=0.0, help="answer after --slow-seconds")
    faults.add_argument("--slow-seconds", type=float, default=0.0, help="delay of slow answers")
    faults.add_argument(
        "--garbage-rate", type=float, default=0.0, help="answer GETs with a body that is not JSON"
    )
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws (default: 0)")
    recording = parser.add_argument_group("recording")
    recording.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep the newest exchanges, with bodies, for GET /_simulator/exchanges "
        "(default: --no-record; requests are counted either way, see GET /_simulator/requests)",
    )
    recording.add_argument(
        "--max-exchanges",
        type=int,
        default=DEFAULT_CLI_MAX_EXCHANGES,
        help="with --record, how many of the newest exchanges to keep (default: %(default)s)",
    )
    variants = parser.add_argument_group("spec variants (answers vary as the spec permits a real server)")
    variants.add_argument(
        "--spec-variants",
        type=int,
        metavar="SEED",
        help="vary everything the spec permits, drawn from SEED: short GET /users pages (at most 100), "
        "undeclared request fields ignored, unknown members, ids as numbers or strings, any 2xx, "
        "optional members null or absent, shuffled lists",
    )
    variants.add_argument(
        "--users-page-cap",
        type=int,
        metavar="N",
        help="answer at most N users per GET /users page, whatever the limit asked "
        "(with --spec-variants: a random number from 1 to N; default there: 100)",
    )
    variants.add_argument(
        "--ignore-undeclared-fields",
        action="store_true",
        help="ignore request body fields that the spec does not declare",
    )
    variants.add_argument(
        "--no-paging-headers",
        dest="paging_headers",
        action="store_false",
        help="answer GET /users without X-Limit, X-Offset, X-Size and X-More",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="keep the CA, certificate, port and data in this directory across restarts, so that "
        "a printed connection stays valid (the data is saved when the simulator stops)",
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        help="once listening, write the base URL, CA file, pid and connection JSON to this file",
    )
    return parser


def spec_variants(args: argparse.Namespace) -> SpecVariants | None:
    """Return the spec variants that the parsed command line options ask for, ``None`` for none.

    :raises ValueError: for a ``--users-page-cap`` below 1.
    """
    base = SpecVariants() if args.spec_variants is None else SpecVariants.all(args.spec_variants)
    variants = replace(
        base,
        users_page_cap=base.users_page_cap if args.users_page_cap is None else args.users_page_cap,
        ignore_undeclared_fields=base.ignore_undeclared_fields or args.ignore_undeclared_fields,
        paging_headers=base.paging_headers and args.paging_headers,
    )
    return None if variants == SpecVariants() else variants


def _write_ready_file(path: Path, simulator: LearnifierSimulator) -> None:
    ready = {
        "base_url": simulator.base_url,
        "ca_file": simulator.ca_file,
        "pid": os.getpid(),
        "connection": simulator.connection_json(),
    }
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(ready, indent=2) + "\n")
    partial.replace(path)


def _announce(simulator: LearnifierSimulator) -> None:
    print(f"Learnifier API simulator listening on {simulator.base_url}")
    if simulator.ca_file:
        print(f"CA certificate: {simulator.ca_file}")
    print("Connection for Airflow:")
    print(f"export AIRFLOW_CONN_LEARNIFIER_DEFAULT={shlex.quote(simulator.connection_json())}")
    print("Stop with Ctrl+C.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT or SIGTERM; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host must be a loopback address (127.0.0.1, ::1 or localhost), not {args.host!r}")
    try:
        simulator = LearnifierSimulator(
            args.key,
            args.secret,
            seed=None if args.seed == "none" else args.seed,
            tls=not args.http,
            host=args.host,
            port=args.port,
            latency=args.latency_ms / 1000,
            faults=FaultConfig(
                error_rate=args.error_rate,
                rate_limit_rate=args.rate_limit_rate,
                retry_after=args.retry_after,
                drop_rate=args.drop_rate,
                drop_after_apply_share=args.drop_after_share,
                slow_rate=args.slow_rate,
                slow_seconds=args.slow_seconds,
                garbage_rate=args.garbage_rate,
                seed=args.fault_seed,
            ),
            record=args.record,
            max_exchanges=args.max_exchanges,
            variants=spec_variants(args),
            rate_limit=args.rate_limit,
            rate_limit_burst=args.rate_limit_burst,
            state_dir=args.state_dir,
        )
    except ValueError as error:
        parser.error(str(error))

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        simulator.start()
    except OSError as error:
        print(
            f"learnifier-simulator: cannot listen on {args.host} port {args.port}: {error}", file=sys.stderr
        )
        return 1
    try:
        _announce(simulator)
        if args.ready_file:
            _write_ready_file(args.ready_file, simulator)
        stop_requested.wait()
    finally:
        simulator.stop()
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
    print("Learnifier API simulator stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
