"""Sphinx configuration of the airflow-provider-learnifier documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# autodoc imports the package and with it Airflow: give Airflow a throwaway home, not ~/airflow.
os.environ["AIRFLOW_HOME"] = str(DOCS / "_build" / "airflow-home")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_learnifier import __version__  # noqa: E402

project = "airflow-provider-learnifier"
author = "airflow-provider-learnifier developers"
copyright = "the airflow-provider-learnifier developers; Apache License 2.0"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "learnifier_examples",
    "learnifier_policy_schema",
    "learnifier_rendered_check",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_class_signature = "separated"
autodoc_typehints = "signature"
autoclass_content = "class"

html_theme = "furo"
html_title = f"Learnifier provider for Apache Airflow {release}"
html_static_path: list[str] = []

# The example DAGs the guides show parts of (see _ext/learnifier_examples.py).
learnifier_examples_dir = str(REPO / "example_dags")
# The assignment policy's JSON Schema, which its reference is made from (_ext/learnifier_policy_schema.py).
learnifier_policy_schema = str(REPO / "airflow_provider_learnifier" / "policy" / "schema.json")

# Pages other people write (benchmarks.md, reliability.md) join the "Quality" section of the
# table of contents as soon as they exist: a toctree entry for a missing page is a build error.
OPTIONAL_PAGES = ["benchmarks", "reliability"]


def _add_optional_pages(app, docname: str, source: list[str]) -> None:
    if docname == "index":
        present = [name for name in OPTIONAL_PAGES if (DOCS / f"{name}.md").exists()]
        source[0] = source[0].replace("<!-- optional pages -->", "\n".join(present))


def setup(app) -> None:
    app.connect("source-read", _add_optional_pages)
