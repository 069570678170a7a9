"""The import graph of ``keras_audioattn`` and ``export`` runs one way (issue 17).

Every module is parsed with :mod:`ast`; its ``import`` statements at module level, inside
functions, classes and ``try``/``if`` blocks alike become edges of a module graph. The test fails on

(a) any import cycle: each strongly connected component is reported as a chain of
    ``module:line`` (the line of the import that makes each step);
(b) any import of ``export`` from ``keras_audioattn`` outside ``keras_audioattn.cli``
    (``export`` depends on the package, never the reverse; only the CLI command that calls the
    exporter may import it).

Resolution rules (so that an edge means "this module needs that module"):

- ``import a.b.c`` is an edge to ``a.b.c`` only, not to the parent packages' ``__init__``
  (Python runs those too, but a cycle through a parent package is not a design dependency);
- ``from a.b import c`` is an edge to ``a.b.c`` when ``c`` is a submodule, else to ``a.b``;
- relative imports are resolved against the importing module's package;
- a name that is not a module of the scanned packages (third-party, stdlib) is no edge;
- imports by name: in a module that calls ``importlib.import_module`` / ``__import__``, every
  string literal that is exactly the name of a scanned module is an edge (``cli.COMMAND_MODULES``,
  ``presets.FAMILIES``); a name computed at run time stays invisible to this test.

Today's violations are listed once in :data:`KNOWN_VIOLATIONS`; the second test fails when an
allowlisted violation no longer exists, so the list can only shrink (empty it when the issue-17
branches have landed).
"""

from __future__ import annotations

import ast
import os
from collections import defaultdict

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("keras_audioattn", "export")
#: Modules of ``keras_audioattn`` allowed to import ``export`` (the ``audioattn export`` command).
EXPORT_IMPORTERS = ("keras_audioattn.cli",)

#: Exactly today's violations (snapshot of main at ea061c6, before the issue-17 branches land).
#: ``("cycle", a, b)``: the import edge a -> b lies on an import cycle (inside one strongly
#: connected component); ``("export", m, e)``: module m imports export module e outside the CLI.
#: Only shrink this list.
KNOWN_VIOLATIONS = frozenset({
})


# --------------------------------------------------------------------------- the checker


def module_files(root, packages=PACKAGES):
    """``{module name: path}`` of every ``.py`` file of ``packages`` under ``root``."""
    modules = {}
    for package in packages:
        base = os.path.join(root, package)
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            rel = os.path.relpath(folder, root).split(os.sep)
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                parts = rel if name == "__init__.py" else rel + [name[:-3]]
                modules[".".join(parts)] = os.path.join(folder, name)
    return modules


def _resolve_relative(module, is_package, level, name):
    """Absolute module name of ``from <level dots><name> import ...`` written in ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        package = package[: len(package) - (level - 1)]
    if not package:
        raise ImportError(f"relative import beyond the top-level package in {module}")
    return ".".join(package + ([name] if name else []))


def _known(name, modules):
    """The longest prefix of dotted ``name`` that is a scanned module (None: external)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def module_imports(module, path, modules):
    """``[(imported module, line), ...]`` for every import statement of ``module`` (any depth)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules)
                if target is not None:
                    edges.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve_relative(module, is_package, node.level, node.module)
                    if node.level else node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in modules else _known(base, modules)
                if target is not None:
                    edges.append((target, node.lineno))
    # Imports by name (``importlib.import_module(name)`` over a list of module names, as
    # ``cli.COMMAND_MODULES`` and ``presets.FAMILIES`` do): in a module that calls
    # ``import_module`` / ``__import__``, a string literal that is exactly a scanned module's name
    # is an edge to that module.
    dynamic = any(isinstance(n, ast.Attribute) and n.attr == "import_module"
                  or isinstance(n, ast.Name) and n.id in ("import_module", "__import__")
                  for n in ast.walk(tree))
    if dynamic:
        edges += [(n.value, n.lineno) for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in modules]
    return [(t, line) for t, line in edges if t != module]


def import_graph(root, packages=PACKAGES):
    """``{module: {imported module: first line}}`` over the scanned packages."""
    modules = module_files(root, packages)
    graph = {}
    for module, path in modules.items():
        graph[module] = {}
        for target, line in module_imports(module, path, modules):
            graph[module].setdefault(target, line)
            graph[module][target] = min(graph[module][target], line)
    return graph


def strongly_connected_components(graph):
    """Tarjan's algorithm (iterative); components with more than one module, each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return sorted(out)


def _shortest_cycle(graph, component):
    """A shortest cycle through the component's first module, inside the component."""
    members, start = set(component), component[0]
    parent, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1] + [start]
                if child in members and child not in parent:
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - an SCC always has one


def describe_component(graph, component):
    """``a:12 -> b:40 -> a`` (each step's import line in the module before the arrow), plus the
    component's other members when the shortest cycle does not visit them all."""
    cycle = _shortest_cycle(graph, component)
    chain = " -> ".join(f"{a}:{graph[a][b]}" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"
    rest = sorted(set(component) - set(cycle))
    return chain + (f"  (same cycle group: {', '.join(rest)})" if rest else "")


def violations(graph, export_importers=EXPORT_IMPORTERS):
    """``{violation key: human-readable description}`` (keys as in :data:`KNOWN_VIOLATIONS`)."""
    found = {}
    for component in strongly_connected_components(graph):
        members = set(component)
        where = describe_component(graph, component)
        for a in component:
            for b, line in sorted(graph[a].items()):
                if b in members:
                    found[("cycle", a, b)] = f"{a}:{line} imports {b}, on the cycle {where}"
    for a, targets in sorted(graph.items()):
        if not a.startswith("keras_audioattn"):
            continue
        if any(a == m or a.startswith(m + ".") for m in export_importers):
            continue
        for b, line in sorted(targets.items()):
            if b == "export" or b.startswith("export."):
                found[("export", a, b)] = f"{a}:{line} imports {b} (only keras_audioattn.cli may import export)"
    return found


# --------------------------------------------------------------------------- the package


@pytest.fixture(scope="module")
def package_violations():
    return violations(import_graph(ROOT))


def test_no_import_cycles_and_export_only_from_cli(package_violations):
    new = {k: v for k, v in package_violations.items() if k not in KNOWN_VIOLATIONS}
    assert not new, "import-graph violations:\n" + "\n".join(sorted(new.values()))


def test_known_violations_still_exist(package_violations):
    """The allowlist only shrinks: an entry that no longer happens must be removed from it."""
    gone = sorted(KNOWN_VIOLATIONS - set(package_violations))
    assert not gone, ("fixed -- remove from KNOWN_VIOLATIONS in tests/test_import_graph.py:\n"
                      + "\n".join(map(repr, gone)))


# --------------------------------------------------------------------------- the checker itself


def _write_package(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


def test_checker_catches_cycle_through_function_level_import(tmp_path):
    root = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import os\nfrom pkg import b\n",
        "pkg/b.py": "def f():\n    from . import c\n    return c\n",
        "pkg/c.py": "\n\ndef g():\n    import pkg.a\n",
    })
    graph = import_graph(root, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b": 2}  # os is external: no edge
    assert graph["pkg.b"] == {"pkg.c": 2}  # relative, inside a function
    assert graph["pkg.c"] == {"pkg.a": 4}
    assert strongly_connected_components(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    found = violations(graph)
    assert set(found) == {("cycle", "pkg.a", "pkg.b"), ("cycle", "pkg.b", "pkg.c"), ("cycle", "pkg.c", "pkg.a")}
    assert "pkg.a:2 -> pkg.b:2 -> pkg.c:4 -> pkg.a" in found[("cycle", "pkg.a", "pkg.b")]


def test_checker_resolution_rules_and_no_false_cycle(tmp_path):
    root = _write_package(tmp_path, {
        "pkg/__init__.py": "from pkg.sub.leaf import VALUE\n",
        "pkg/sub/__init__.py": "from .leaf import VALUE\nfrom . import other\n",
        "pkg/sub/leaf.py": "from ..base import thing\nVALUE = 1\n",
        "pkg/sub/other.py": "from pkg.sub import leaf, VALUE\n",
        "pkg/base.py": "import pkg.sub.missing_attr\nthing = 2\n",
    })
    graph = import_graph(root, ("pkg",))
    assert graph["pkg"] == {"pkg.sub.leaf": 1}  # the named module only, not pkg.sub's __init__
    assert graph["pkg.sub"] == {"pkg.sub.leaf": 1, "pkg.sub.other": 2}
    assert graph["pkg.sub.leaf"] == {"pkg.base": 1}  # two dots: the parent package
    # ``from pkg.sub import leaf, VALUE``: a submodule, and a name of the package itself.
    assert graph["pkg.sub.other"] == {"pkg.sub.leaf": 1, "pkg.sub": 1}
    # ``import pkg.sub.missing_attr``: not a module, resolves to the longest module prefix.
    assert graph["pkg.base"] == {"pkg.sub": 1}
    # sub -> other -> sub and sub -> leaf -> base -> sub are cycles; nothing leads back to pkg.
    assert strongly_connected_components(graph) == [["pkg.base", "pkg.sub", "pkg.sub.leaf", "pkg.sub.other"]]


def test_checker_flags_export_import_outside_cli(tmp_path):
    root = _write_package(tmp_path, {
        "keras_audioattn/__init__.py": "",
        "keras_audioattn/cli/__init__.py": "import export\n",
        "keras_audioattn/cli/export_cmd.py": "from export.tflite import to_tflite\n",
        "keras_audioattn/training.py": "def f():\n    import export.checks\n",
        "export/__init__.py": "",
        "export/tflite.py": "from keras_audioattn import training\n",
        "export/checks.py": "",
    })
    found = violations(import_graph(root))
    assert ("export", "keras_audioattn.training", "export.checks") in found
    assert not [k for k in found if k[0] == "export" and k[1].startswith("keras_audioattn.cli")]
    assert "keras_audioattn.training:2 imports export.checks" in found[("export", "keras_audioattn.training",
                                                                        "export.checks")]
