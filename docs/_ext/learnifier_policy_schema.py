"""The ``learnifier-policy-reference`` directive: the assignment policy's reference, from its JSON Schema.

A guide shows it with::

    ```{learnifier-policy-reference}
    ```

Each object of the schema (the policy, ``defaults``, a course, a condition) becomes a table of its
keys: type, whether it is required, and the description, all read from
``airflow_provider_learnifier/policy/schema.json`` at build time, so the reference cannot drift
from the schema that validates policies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx

#: The objects of the reference, in order: (title, JSON pointer into the schema).
SECTIONS = (
    ("The policy", ""),
    ("defaults", "/properties/defaults"),
    ("A course (an item of courses)", "/$defs/course"),
    ("A selector (who)", "/$defs/selector"),
    ("A condition on a column", "/$defs/condition"),
)


def resolve(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    """The part of ``schema`` at a JSON pointer (``""`` for the whole)."""
    node: Any = schema
    for part in [p for p in pointer.split("/") if p]:
        node = node[part]
    return node


def type_of(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """A short description of a value's type: ``boolean``, ``integer ≥ 0``, ``list of selector``..."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = resolve(schema, node["$ref"][1:])
        return (
            type_of(schema, target)
            if name in ("activate", "remove", "max_removals", "value", "date")
            else name
        )
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return " or ".join(json.dumps(value) for value in node["enum"])
    if "oneOf" in node:
        return " or ".join(dict.fromkeys(type_of(schema, option) for option in node["oneOf"]))
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {type_of(schema, node.get('items', {}))}"
    if kind in ("integer", "number") and "minimum" in node:
        upper = f" and < {node['exclusiveMaximum']}" if "exclusiveMaximum" in node else ""
        return f"{kind} ≥ {node['minimum']}{upper}"
    if kind == "object" and "additionalProperties" in node and not node.get("properties"):
        return "mapping"
    return kind or "any"


def describe(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """A value's description, following a ``$ref`` when the value has none of its own."""
    if "description" in node:
        return str(node["description"])
    if "$ref" in node:
        return describe(schema, resolve(schema, node["$ref"][1:]))
    return ""


def reference_lines(schema: dict[str, Any]) -> list[str]:
    """The reference as reStructuredText: a heading per object, a table row per key."""
    lines: list[str] = []
    for title, pointer in SECTIONS:
        node = resolve(schema, pointer)
        lines += [f".. rubric:: {title}", "", describe(schema, node), ""]
        objects = [node] + [option for option in node.get("oneOf", []) if option.get("type") == "object"]
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for item in objects:
            properties.update(item.get("properties", {}))
            required.update(item.get("required", []))
        extra = next(
            (item["additionalProperties"] for item in objects if item.get("additionalProperties")), None
        )
        if not properties and extra is None:
            continue
        lines += [".. list-table::", "   :header-rows: 1", "   :widths: 20 20 60", ""]
        lines += ["   * - Key", "     - Type", "     - Meaning"]
        for key, value in properties.items():
            lines += [
                f"   * - ``{key}``" + (" (required)" if key in required else ""),
                f"     - {type_of(schema, value)}",
                f"     - {describe(schema, value)}",
            ]
        if isinstance(extra, dict):
            lines += [
                "   * - *a roster column*",
                f"     - {type_of(schema, extra)}",
                f"     - {describe(schema, extra)}",
            ]
        lines.append("")
    date = resolve(schema, "/$defs/date")
    lines += [".. rubric:: Dates", "", describe(schema, date), ""]
    return lines


class LearnifierPolicyReference(SphinxDirective):
    """Render the policy's JSON Schema as a reference."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        path = Path(self.config.learnifier_policy_schema)
        self.env.note_dependency(str(path))
        schema = json.loads(path.read_text(encoding="utf-8"))
        # The reference is reStructuredText; the page may be MyST Markdown: parse it on its own.
        from docutils.core import publish_doctree

        doctree = publish_doctree(
            "\n".join(reference_lines(schema)),
            source_path=str(path),
            settings_overrides={"report_level": 2, "halt_level": 2, "input_encoding": "unicode"},
        )
        return list(doctree.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("learnifier_policy_schema", "", "env")
    app.add_directive("learnifier-policy-reference", LearnifierPolicyReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
