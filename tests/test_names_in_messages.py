"""Every ``Learnifier...`` class or function that the package's text names (an error or log message,
a docstring, a comment) exists: a message must never send a user looking for something we do not have."""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

import airflow_provider_learnifier

PACKAGE = airflow_provider_learnifier.__name__
ROOT = Path(airflow_provider_learnifier.__file__).parent
#: A CamelCase name of ours: ``Learnifier`` and a capital (``LearnifierHook``, ``LearnifierInputError``).
OUR_NAME = re.compile(r"\bLearnifier[A-Z]\w*")


def _texts(source: str) -> Iterator[str]:
    """The string literals (docstrings and f-strings' parts included) and the comments of ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string


def _names_in_text() -> dict[str, list[str]]:
    """Each name of ours mentioned in the package's text, with the files that mention it."""
    names: dict[str, list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        for text in _texts(path.read_text(encoding="utf-8")):
            for name in OUR_NAME.findall(text):
                names.setdefault(name, []).append(str(path.relative_to(ROOT.parent)))
    return names


def _defined_names() -> set[str]:
    """The classes and functions defined in the package's modules."""
    defined = set()
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__main__":
            continue  # running it is what importing it does
        if parts[-1] == "__init__":
            parts.pop()
        module = importlib.import_module(".".join(parts))
        defined.update(
            name
            for name, value in vars(module).items()
            if (inspect.isclass(value) or inspect.isfunction(value))
            and getattr(value, "__module__", "").startswith(PACKAGE)
        )
    return defined


NAMES = _names_in_text()
DEFINED = _defined_names()


def test_the_names_are_found_in_messages_docstrings_and_comments():
    assert "airflow_provider_learnifier/triggers/events.py" in NAMES["LearnifierProjectCompletionSensor"]
    assert "LearnifierHook" in NAMES  # in docstrings
    assert "LearnifierInputError" in NAMES  # in messages and docstrings
    found = list(_texts('x = 1  # see LearnifierNoSuchThing\ny = f"{x} LearnifierOther"\n'))
    assert OUR_NAME.findall(" ".join(found)) == ["LearnifierOther", "LearnifierNoSuchThing"]


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_name_the_text_mentions_exists(name):
    where = sorted(set(NAMES[name]))
    assert name in DEFINED, f"{name} is named in {where} but is no class or function of ours"
