"""Check assignment policies in CI: ``python -m airflow_provider_learnifier.policy validate FILE...``.

Exits 0 when every policy is valid, 1 naming each problem (course and key) otherwise, 2 on
wrong usage. With ``--roster``, the columns the selectors read must be the roster's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_learnifier.exceptions import LearnifierInputError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_learnifier.policy",
        description="Check Learnifier assignment policies against their JSON Schema.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check policy files; exit 1 naming each problem")
    validate.add_argument("files", nargs="+", help="policy files (YAML or JSON)")
    validate.add_argument("--roster", help="a roster file whose columns the selectors must name")
    commands.add_parser("schema", help="print the policy format's JSON Schema")
    arguments = parser.parse_args(argv)

    from airflow_provider_learnifier.policy import SCHEMA_PATH, validate_policy

    if arguments.command == "schema":
        sys.stdout.write(SCHEMA_PATH.read_text(encoding="utf-8"))
        return 0
    status = 0
    for name in arguments.files:
        try:
            policy = validate_policy(name, roster=arguments.roster)
        except LearnifierInputError as error:
            print(f"{name}: INVALID\n{error}", file=sys.stderr)
            status = 1
            continue
        courses = ", ".join(course.key for course in policy.courses)
        print(f"{name}: OK ({len(policy.courses)} course(s): {courses})")
    return status


if __name__ == "__main__":
    sys.exit(main())
