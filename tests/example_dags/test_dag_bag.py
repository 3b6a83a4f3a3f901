"""The example DAGs import cleanly, document themselves, and carry the markers the docs include."""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from pathlib import Path

from tests.example_dags.conftest import AIRFLOW3_ONLY, EXAMPLE_DAGS, REPO, example_dag_bag

pytestmark = AIRFLOW3_ONLY

DAG_FILES = sorted(EXAMPLE_DAGS.glob("*.py"))
EXPECTED_DAGS = {
    "learnifier_quickstart": "learnifier_quickstart.py",
    "learnifier_enrollment": "learnifier_enrollment.py",
    "learnifier_login_links": "learnifier_login_links.py",
    "learnifier_progress_report": "learnifier_progress_report.py",
    "learnifier_progress_summary": "learnifier_progress_summary.py",
    "learnifier_offboarding": "learnifier_offboarding.py",
    "learnifier_org_unit_move": "learnifier_org_unit_move.py",
    "learnifier_close_course": "learnifier_close_course.py",
    "learnifier_participant_completion": "learnifier_participant_completion.py",
    "learnifier_on_completion": "learnifier_on_completion.py",
    "learnifier_assignment_policy": "learnifier_assignment_policy.py",
    "learnifier_nudges": "learnifier_nudges.py",
}
#: The code snippets the documentation includes, by marker name, and the file that has each.
MARKERS = {
    "howto_connection_learnifier": "learnifier_enrollment.py",
    "howto_operator_learnifier_upsert_users": "learnifier_enrollment.py",
    "howto_operator_learnifier_create_project": "learnifier_enrollment.py",
    "howto_operator_learnifier_enroll": "learnifier_enrollment.py",
    "howto_operator_learnifier_login_links": "learnifier_login_links.py",
    "howto_operator_learnifier_login_links_delivery": "learnifier_login_links.py",
    "howto_sensor_learnifier_project_completion": "learnifier_enrollment.py",
    "howto_operator_learnifier_progress_report": "learnifier_progress_report.py",
    "howto_operator_learnifier_progress_report_asset": "learnifier_progress_summary.py",
    "howto_operator_learnifier_enroll_dry_run": "learnifier_offboarding.py",
    "howto_operator_learnifier_enroll_remove_missing": "learnifier_offboarding.py",
    "howto_operator_learnifier_create_org_unit": "learnifier_org_unit_move.py",
    "howto_operator_learnifier_update_org_unit": "learnifier_org_unit_move.py",
    "howto_operator_learnifier_update_project": "learnifier_close_course.py",
    "howto_operator_learnifier_delete_project": "learnifier_close_course.py",
    "howto_operator_learnifier_create_user_group": "learnifier_org_unit_move.py",
    "howto_operator_learnifier_add_user_group_members": "learnifier_org_unit_move.py",
    "howto_operator_learnifier_remove_user_group_members": "learnifier_org_unit_move.py",
    "howto_sensor_learnifier_participant_completed": "learnifier_participant_completion.py",
    "howto_trigger_learnifier_completion_event": "learnifier_on_completion.py",
    "howto_operator_learnifier_policy_plan_approve_apply": "learnifier_assignment_policy.py",
    "howto_operator_learnifier_nudges": "learnifier_nudges.py",
}
DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
#: Our code: its files, and its module names (a DagBag loads a DAG file as unusual_prefix_<hash>_<name>).
OUR_CODE = (str(EXAMPLE_DAGS), str(REPO / "airflow_provider_learnifier"))
OUR_MODULES = r"airflow_provider_learnifier\b|unusual_prefix_\w*_learnifier_|learnifier_"


def test_the_example_dags_import_without_errors_or_deprecation_warnings(airflow_db):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Airflow's deprecation warnings are DeprecationWarning or FutureWarning subclasses.
        for category in DEPRECATIONS:
            warnings.filterwarnings("error", category=category, module=OUR_MODULES)
        bag = example_dag_bag()

    assert bag.import_errors == {}
    ours = [
        f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
        for w in caught
        if issubclass(w.category, DEPRECATIONS) and str(w.filename).startswith(OUR_CODE)
    ]
    assert ours == []
    assert {dag_id: Path(dag.fileloc).name for dag_id, dag in bag.dags.items()} == EXPECTED_DAGS


def test_each_example_explains_itself(airflow_db):
    docstrings = {}
    for path in DAG_FILES:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert docstring and len(docstring) > 400, f"{path.name} needs a module docstring that explains it"
        docstrings[path.name] = docstring
    for dag_id, dag in example_dag_bag().dags.items():
        # The docstring is the DAG's documentation in the UI.
        assert (dag.doc_md or "").strip() == docstrings[Path(dag.fileloc).name], dag_id
        assert {"learnifier", "example"} <= set(dag.tags), dag_id
        if dag_id != "learnifier_quickstart":
            undescribed = [name for name, param in dag.params.items() if not param.description]
            assert undescribed == [], f"{dag_id}: params without a description"


def test_the_default_output_location_is_outside_the_repository(airflow_db):
    for dag in example_dag_bag().dags.values():
        defaults = [
            dag.params.get_param(name).value for name in ("report_dir", "outbox") if name in dag.params
        ]
        for default in [default for default in defaults if isinstance(default, str)]:
            assert Path(default).is_absolute()
            assert not Path(default).resolve().is_relative_to(REPO), (
                f"{dag.dag_id} writes into the repository"
            )


def test_every_marker_the_docs_include_is_one_well_formed_pair():
    found: dict[str, str] = {}
    for path in DAG_FILES:
        lines = path.read_text(encoding="utf-8").splitlines()
        starts = [m.group(1) for line in lines if (m := re.search(r"# \[START (\w+)\]", line))]
        ends = [m.group(1) for line in lines if (m := re.search(r"# \[END (\w+)\]", line))]
        assert Counter(starts) == Counter(ends), f"{path.name}: START and END markers do not pair up"
        assert len(set(starts)) == len(starts), f"{path.name}: a marker is used twice"
        for name in starts:
            first = next(n for n, line in enumerate(lines) if f"# [START {name}]" in line)
            last = next(n for n, line in enumerate(lines) if f"# [END {name}]" in line)
            assert first < last - 1, f"{path.name}: {name} ends before it starts or is empty"
            assert name not in found, f"{name} is in {found.get(name)} and {path.name}"
            found[name] = path.name
    # Other markers (the quickstart's, for the hook guide) may come and go; these must stay.
    assert {name: found.get(name) for name in MARKERS} == MARKERS


#: An example reads in one screen: its docstring included.
MAX_EXAMPLE_LINES = 80


def test_every_example_reads_in_one_screen_and_takes_its_settings_from_airflow():
    for path in DAG_FILES:
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) <= MAX_EXAMPLE_LINES, f"{path.name} is longer than one screen"
        # Settings come from params, connections and Variables, never from the process environment.
        reads = [
            node.attr
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in {"environ", "getenv", "environb"}
        ]
        assert reads == [], f"{path.name} reads the environment"
