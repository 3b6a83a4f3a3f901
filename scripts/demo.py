"""Run the example DAGs against a local Learnifier simulator: what ``make demo`` does.

Starts a seeded HTTPS simulator, points ``AIRFLOW_CONN_LEARNIFIER_DEFAULT`` at it (with the
simulator's CA), runs each demo DAG with ``airflow dags test`` on a throwaway ``AIRFLOW_HOME``
(SQLite), prints what the simulator holds afterwards, and stops the simulator on exit, on
failure or Ctrl-C alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from airflow_provider_learnifier.simulator import LearnifierSimulator

REPO = Path(__file__).resolve().parent.parent
DEMO_DAGS = ["learnifier_quickstart"]


def run(command: list[str], env: dict[str, str]) -> None:
    """Run one command, echoing it; stop the demo if it fails."""
    print(f"\n$ {' '.join(command)}", flush=True)
    subprocess.run(command, env=env, check=True)


def main() -> int:
    airflow = str(Path(sys.executable).with_name("airflow"))
    with (
        tempfile.TemporaryDirectory(prefix="learnifier-demo-") as airflow_home,
        LearnifierSimulator(seed="demo") as simulator,
    ):
        print(f"Learnifier simulator at {simulator.base_url} (CA {simulator.ca_file})")
        env = {
            **os.environ,
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW_CONN_LEARNIFIER_DEFAULT": simulator.connection_json(),
        }
        run([airflow, "db", "migrate"], env)
        for dag_id in DEMO_DAGS:
            run([airflow, "dags", "test", dag_id], env)
        print("\nWhat the simulator holds now:")
        snapshot = simulator.state.snapshot()
        for project in snapshot["projects"]:
            participants = [p for p in snapshot["participants"] if p["projectId"] == project["id"]]
            activated = sum(1 for p in participants if p.get("activated"))
            print(f"  {project['name']!r}: {len(participants)} participant(s), {activated} activated")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as failed:
        print(f"demo failed: {' '.join(failed.cmd)} exited {failed.returncode}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
