"""The import structure the layout promises, read from the source.

- No module of app/, model/ or handler.py is part of an import circle, counting imports
  inside functions too, so no circle can hide behind one.
- app/core imports neither Flask nor Werkzeug nor anything of app/ outside app/core, and
  model/ imports nothing of app/ but app/core: describing or publishing a model loads no
  web app.
- No view reads a setting from app.config by a string: only the factory writes the one
  value Werkzeug itself reads. No part of the app is looked up by a bare string: only
  app/http/components.py touches app.extensions.
- The lazy-import hook is installed by the entry points alone (handler.py, and app.factory
  for `flask run` and gunicorn), each before its own imports bring in scikit-learn; no
  other module installs it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.paths import ROOT

SOURCES = sorted(
    [*(ROOT / "app").rglob("*.py"), *(ROOT / "model").rglob("*.py"), ROOT / "handler.py"]
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in SOURCES}


def imported(path: Path) -> Iterator[tuple[str, int]]:
    """(module, line) for every import of a project module in `path`, at any depth."""
    if path.name == "__init__.py":
        package = module_name(path)
    else:
        package = "" if path.parent == ROOT else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `import name` the package.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name in MODULES:
                yield name, node.lineno
            elif name.split(".")[0] in ("app", "model", "handler"):
                # An import of something that is not a module here: a broken import.
                raise AssertionError(f"{path}:{node.lineno} imports unknown module {name}")


GRAPH = {name: sorted({target for target, _ in imported(path)}) for name, path in MODULES.items()}


def test_the_graph_reads_the_imports() -> None:
    assert "app.core.predictor" in GRAPH["app.factory"] or any(
        "app.core.predictor" in GRAPH[target] for target in GRAPH["app.factory"]
    )
    assert "app.factory" in GRAPH["handler"]
    # The one import inside a function of the package: `flask run`'s way in.
    assert GRAPH["app"] == ["app.factory"]


def circles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_is_part_of_an_import_circle() -> None:
    assert circles(GRAPH) == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert circles(graph) == [["a", "b", "c"]]


def third_party(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("name", [name for name in MODULES if name.startswith("app.core")], ids=str)
def test_the_core_needs_no_web_framework_and_nothing_outside_it(name: str) -> None:
    assert not third_party(MODULES[name]) & {"flask", "werkzeug", "serverless_wsgi"}
    outside = [target for target in GRAPH[name] if not target.startswith("app.core")]
    assert outside == [], f"{name} imports {outside}"


@pytest.mark.parametrize("name", [name for name in MODULES if name.startswith("model")], ids=str)
def test_the_model_tools_use_the_core_alone(name: str) -> None:
    app_modules = [target for target in GRAPH[name] if target.split(".")[0] == "app"]
    assert all(target.startswith("app.core") for target in app_modules), app_modules
    assert not third_party(MODULES[name]) & {"flask", "werkzeug"}


def test_describing_a_model_loads_no_web_app() -> None:
    script = (
        "import json, sys\n"
        "import model.describe, model.export, model.publish, model.train\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'werkzeug') or (m.startswith('app.') and not m.startswith('app.core')))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(loaded.stdout) == []


def subscripts_of(path: Path, attribute: str) -> list[int]:
    """Lines where `<something>.<attribute>` is subscripted or has .get called on it."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        target = None
        if isinstance(node, ast.Subscript):
            target = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "setdefault", "pop")
        ):
            target = node.func.value
        if isinstance(target, ast.Attribute) and target.attr == attribute:
            lines.append(node.lineno)
    return lines


def test_settings_are_read_typed_and_parts_found_by_type() -> None:
    config = {name: lines for name in MODULES if (lines := subscripts_of(MODULES[name], "config"))}
    # Not even Werkzeug's body limit: the app's request class carries it (app.http.body).
    assert config == {}
    extensions = [name for name in MODULES if subscripts_of(MODULES[name], "extensions")]
    assert extensions == ["app.http.components"]


def test_the_checks_see_a_string_lookup(tmp_path: Path) -> None:
    view = tmp_path / "view.py"
    view.write_text(
        "from flask import current_app\n"
        "def limit():\n"
        "    return current_app.config['MAX_BATCH_ROWS'], current_app.extensions.get('x')\n"
    )
    assert subscripts_of(view, "config") == [3]
    assert subscripts_of(view, "extensions") == [3]


def hook_installed_after(statement: str) -> bool:
    script = (
        f"import sys\n{statement}\n"
        "print(any(type(f).__name__ == 'DeferringFinder' for f in sys.meta_path))"
    )
    env = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING", "TRY_IT_PAGE": "0"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()[-1] == "True"


# The entry points: Lambda's handler, and the factory `flask run` and gunicorn import
# (app.local_server, `make serve`, imports it too).
ENTRY_POINTS = ("handler", "app.factory", "app.local_server")


def test_only_the_entry_points_install_the_import_hook() -> None:
    others = [name for name in MODULES if name not in ENTRY_POINTS]
    assert not any(ENTRY_POINTS[1] in GRAPH[name] for name in others if name != "app")
    assert not hook_installed_after("; ".join(f"import {name}" for name in others))


@pytest.mark.parametrize("entry_point", ["import app.factory", "import handler"])
def test_the_entry_points_install_the_import_hook_before_scikit_learn(entry_point: str) -> None:
    # Installed before their own imports: SciPy's modules that serving never uses stay
    # unrun, though importing the core brings in scikit-learn.
    assert hook_installed_after(
        f"{entry_point}\nfrom app.aws.lazy_imports import is_deferred\n"
        "assert is_deferred(sys.modules['scipy.stats']), 'scipy.stats ran at import'"
    )
