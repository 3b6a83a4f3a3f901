"""What may import what inside the package (CONTRIBUTING.md, "Layout"), read from the source with ``ast``.

Every import counts: at module level, inside a function, and under ``if TYPE_CHECKING:``. A
deferred import keeps the interpreter from tripping over a cycle, but not a reader, nor the next
change that moves the import to the top; the layers must hold for all of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import airflow_provider_learnifier

PACKAGE = airflow_provider_learnifier.__name__
ROOT = Path(airflow_provider_learnifier.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imported_names(module: str, path: Path) -> Iterator[str]:
    """The dotted names a module imports: relative imports made absolute, ``from x import y`` as ``x.y``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _own_module(name: str) -> str | None:
    """The package's module an imported name lives in (the longest match), or ``None``."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _import_graph() -> dict[str, set[str]]:
    """Each of the package's modules, with the package's modules it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = {_own_module(name) for name in _imported_names(module, path)}
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


GRAPH = _import_graph()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a path whose last module imports the first), or ``None``."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :]
            if target not in state and (found := visit(target)) is not None:
                return found
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_the_graph_sees_the_imports_of_every_kind():
    # A module-level, a function-level and a TYPE_CHECKING import each make an edge.
    assert f"{PACKAGE}.operators._base" in GRAPH[f"{PACKAGE}.operators.participants"]  # module level
    assert f"{PACKAGE}.operators._enrollment" in GRAPH[f"{PACKAGE}.operators.participants"]  # in a function
    assert f"{PACKAGE}.operators._roster" in GRAPH[f"{PACKAGE}.operators._enrollment"]  # TYPE_CHECKING


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_back():
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join([*cycle, cycle[0]])


def test_the_hook_imports_nothing_that_builds_on_it():
    above = ("operators", "sensors", "triggers", "policy", "participant_states", "completion", "links")
    for module, targets in GRAPH.items():
        if module.startswith(f"{PACKAGE}.hooks."):
            wrong = sorted(t for t in targets if t.removeprefix(PACKAGE + ".").split(".")[0] in above)
            assert not wrong, f"{module} imports {wrong}, which build on the hook"


#: The modules of the hook package that the rest of the package may import: the hook itself, and
#: the operators' and sensors' cached hook. The others are the transport beneath the hook.
HOOK_API = {f"{PACKAGE}.hooks.learnifier", f"{PACKAGE}.hooks.task"}


def test_only_the_hook_package_imports_the_transport():
    hooks = f"{PACKAGE}.hooks"
    for module, targets in GRAPH.items():
        if not module.startswith(hooks + "."):
            wrong = sorted(t for t in targets if t.startswith(hooks + ".") and t not in HOOK_API)
            assert not wrong, f"{module} imports {wrong}: use the hook's API methods instead"


def test_the_provider_never_imports_the_simulator():
    for module, path in MODULES.items():
        names = set(_imported_names(module, path))
        assert not any(name.split(".")[0] == "learnifier_simulator" for name in names), module
