"""The house rules of fhirauth/, read from its source: every module sits in one layer and imports
only from its own layer or the layers below, there is no import circle between modules or
between packages, no import hides inside a function, and no module outgrows one reader's head.

``python tests/test_layers.py`` prints the drawing: packages by layer, with what each imports.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fhirauth"
MAX_LINES = 500

# Bottom to top. A name is the first part under fhirauth/ (a package or a top-level module).
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("core", frozenset({"errors", "clock", "logs", "principal"})),
    ("fhir", frozenset({"fhir"})),
    ("settings", frozenset({"config"})),
    (
        "domain",
        frozenset(
            {"conformance", "policy", "decision", "store", "membership", "access", "sandbox"}
            | {"outbound"}
        ),
    ),
    ("runtime", frozenset({"services", "startup", "notifications"})),
    ("operations", frozenset({"operations", "auth"})),
    ("edges", frozenset({"api", "cli", "web", "serve", "__init__", "__main__"})),
)


def _sources() -> dict[str, Path]:
    """Module name → file, migrations aside (alembic loads them by path)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        out[".".join(parts)] = path
    return out


@cache
def _modules() -> dict[str, tuple[set[str], list[str]]]:
    """Module → (fhirauth modules it imports, imports found inside a function or class)."""
    sources = _sources()
    found: dict[str, tuple[set[str], list[str]]] = {}
    for name, path in sources.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        module_level = {id(n) for n in _module_level(tree.body)}
        targets: set[str] = set()
        hidden: list[str] = []
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, package, sources):
                targets.add(target)
                if id(node) not in module_level:
                    hidden.append(f"{name}:{node.lineno} imports {target}")
        found[name] = (targets, hidden)
    return found


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import time: the body, and the branches of top-level ``if``/``try``
    (``if TYPE_CHECKING:`` included: those imports are never run)."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out += _module_level(stmt.body) + _module_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody):
                out += _module_level(block)
            for handler in stmt.handlers:
                out += _module_level(handler.body)
    return out


def _targets(node: ast.Import | ast.ImportFrom, package: str, sources: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        # ``from fhirauth import sandbox`` imports the module fhirauth.sandbox
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base for a in node.names]
    return {n for n in names if n == "fhirauth" or n.startswith("fhirauth.")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    part = _part(module)
    for i, (_, members) in enumerate(LAYERS):
        if part in members:
            return i
    raise AssertionError(f"{module}: {part} is in no layer; add it to LAYERS in {__file__}")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, (targets, _) in _modules().items():
        for target in targets:
            if _part(target) != _part(name) and target != "fhirauth":
                graph[_part(name)].add(_part(target))
    return graph


def test_every_module_is_in_a_layer_and_imports_nothing_above_it() -> None:
    upward = [
        f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for name, (targets, _) in _modules().items()
        for target in sorted(targets)
        if target != "fhirauth" and _layer(target) > _layer(name)
    ]
    assert upward == []


def test_no_import_hides_inside_a_function() -> None:
    hidden = [line for _, found in _modules().values() for line in found]
    assert hidden == []


def test_no_circle_between_modules_or_packages() -> None:
    modules = {name: {t for t in targets if t != name} for name, (targets, _) in _modules().items()}
    assert _cycles(modules) == []
    assert _cycles(_package_graph()) == []


def test_no_module_is_longer_than_one_reader_holds() -> None:
    long = {
        name: n
        for name, path in _sources().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_fhir_layer_imports_nothing_of_ours_but_errors() -> None:
    reached = {
        _part(target)
        for name, (targets, _) in _modules().items()
        if _part(name) == "fhir"
        for target in targets
    }
    assert reached <= {"fhir", "errors"}


def test_pure_logic_imports_neither_the_web_nor_the_database() -> None:
    """fhir, conformance, policy and decision get what they need as arguments, so the API,
    the CLI and the worker share them and tests run them without a server."""
    pure = ("fhirauth.fhir", "fhirauth.conformance", "fhirauth.policy", "fhirauth.decision")
    found = [
        f"{name} imports {root}"
        for name, path in _sources().items()
        if name.startswith(pure)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for root in _roots(node)
        if root in ("flask", "sqlalchemy", "werkzeug")
    ]
    assert found == []


def _roots(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    return [(node.module or "").split(".")[0]] if not node.level else []


def drawing() -> str:
    graph = _package_graph()
    lines = []
    for i, (layer, members) in reversed(list(enumerate(LAYERS))):
        lines.append(f"{i} {layer}")
        for part in sorted(members):
            below = ", ".join(sorted(graph.get(part, ()), key=lambda p: (-_layer(f"x.{p}"), p)))
            lines.append(f"    {part:<14} -> {below}" if below else f"    {part}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(drawing())
