"""The ``learnifier-example`` directive: show a part of an example DAG, marked in its source.

Example DAGs mark the parts the guides show with comments::

    # [START howto_operator_learnifier_enroll]
    enroll = LearnifierEnrollOperator(...)
    # [END howto_operator_learnifier_enroll]

and a guide shows it with::

    ```{learnifier-example} example_learnifier_enrollment.py howto_operator_learnifier_enroll
    ```

The code comes from the file at build time (a ``literalinclude`` between the markers, dedented),
so the docs never hold a copy that can drift from the tested DAG. A missing marker is a build
error, unless ``learnifier_pending_examples`` in ``conf.py`` lists it as ``"file.py:marker"``
while the example is being written: the guide then says where the example will come from.
A listed marker that exists is a build error too, so the list cannot go stale.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from sphinx.directives.code import LiteralInclude
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
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
            if f"{file_name}:{marker}" in self.config.learnifier_pending_examples:
                note = nodes.note()
                note += nodes.paragraph(
                    text=f"The example of this section will come from {shown_path}, "
                    f"between the markers {start} and {end}."
                )
                return [note]
            logger.warning(
                "%s has no %r ... %r markers (while they are being written, list %r in "
                "learnifier_pending_examples in docs/conf.py)",
                shown_path,
                start,
                end,
                f"{file_name}:{marker}",
                location=self.get_location(),
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


def check_pending(app: Sphinx, config: Any) -> None:
    """Fail the build when an example listed as pending has its markers now."""
    for entry in config.learnifier_pending_examples:
        file_name, _, marker = entry.partition(":")
        path = Path(config.learnifier_examples_dir) / file_name
        if path.exists() and f"# [START {marker}]" in path.read_text(encoding="utf-8"):
            logger.warning(
                "example_dags/%s has the %s markers now: remove %r from learnifier_pending_examples "
                "in docs/conf.py",
                file_name,
                marker,
                entry,
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("learnifier_examples_dir", "", "env")
    app.add_config_value("learnifier_pending_examples", [], "env", types=[list, tuple])
    app.add_directive("learnifier-example", LearnifierExample)
    app.connect("config-inited", check_pending)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
