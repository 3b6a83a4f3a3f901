"""Warn when a page shows reStructuredText markup as text instead of rendering it.

The API reference is made by autodoc from reST docstrings. Inside a Markdown page, a directive such
as ``{automodule}`` hands that reST to the Markdown parser, and the page then shows
``:param name:`` and ``:class:`...``` literally; the pages wrap autodoc in ``{eval-rst}`` instead.
This extension checks every page's text (code excepted) for such markup, so that ``make docs``
(warnings as errors) fails if it shows up again.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.util import logging

if TYPE_CHECKING:
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)

#: reST that a rendered page never shows as text: field lists, roles and directives.
RAW_REST = re.compile(
    r"(?:^|\s)(?::(?:param|type|returns?|rtype|raises?)\b[^:\n]*:"
    r"|:(?:class|meth|func|mod|attr|data|exc|obj|ref|doc):`"
    r"|\.\. [a-z:-]+::)"
)


def _in_code(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, (nodes.literal, nodes.literal_block)):
            return True
        parent = parent.parent
    return False


def check_rendered(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for text in doctree.findall(nodes.Text):
        if _in_code(text):
            continue
        found = RAW_REST.search(text.astext())
        if found:
            logger.warning(
                "reST shown as text (%r): wrap autodoc in {eval-rst} in a Markdown page",
                found.group(0).strip(),
                location=text.parent,
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", check_rendered)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
