"""The ``learnifier-example`` directive: show a part of an example DAG, marked in its source.

Example DAGs mark the parts the guides show with comments::

    # [START howto_operator_learnifier_enroll]
    enroll = LearnifierEnrollOperator(...)
    # [END howto_operator_learnifier_enroll]

and a guide shows it with::

    ```{learnifier-example} learnifier_enrollment.py howto_operator_learnifier_enroll
    ```

The code comes from the file at build time (a ``literalinclude`` between the markers, dedented),
so the docs never hold a copy that can drift from the tested DAG. A missing marker is a build
error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sphinx.directives.code import LiteralInclude
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)


class LearnifierExample(SphinxDirective):
    """Include the lines between ``[START marker]`` and ``[END marker]`` of an example DAG."""

    required_arguments = 2
    optional_arguments = 0
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        file_name, marker = self.arguments
        path = Path(self.config.learnifier_examples_dir) / file_name
        shown_path = f"example_dags/{file_name}"
        start, end = f"# [START {marker}]", f"# [END {marker}]"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if start not in text or end not in text:
            logger.warning(
                "%s has no %r ... %r markers", shown_path, start, end, location=self.get_location()
            )
            return []
        # literalinclude reads a path starting with "/" as relative to the docs' source directory.
        source_relative = "/" + os.path.relpath(path, self.env.srcdir)
        include = LiteralInclude(
            "literalinclude",
            [source_relative],
            {
                "start-after": start,
                "end-before": end,
                "dedent": None,
                "language": "python",
                "caption": shown_path,
            },
            self.content,
            self.lineno,
            self.content_offset,
            self.block_text,
            self.state,
            self.state_machine,
        )
        return include.run()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("learnifier_examples_dir", "", "env")
    app.add_directive("learnifier-example", LearnifierExample)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
