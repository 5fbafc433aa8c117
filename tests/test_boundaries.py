"""`explorer` is a plain package: it never imports streamlit, directly or through another module,
and its wings import each other one way only (explorer/__init__.py)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "explorer"
# what each part of `explorer` may import of the project
ALLOWED = {
    "errors": {"errors"},
    "devices": {"errors"},
    "store": {"store", "errors"},
    "data": {"data", "store", "errors", "devices"},
    "dann": {"dann", "data", "store", "errors", "devices"},
    "transfer": {"transfer", "data", "store", "errors", "devices"},
    "analysis": {"analysis", "dann", "transfer", "data", "store", "errors", "devices"},
    "execution": {"execution", "analysis", "dann", "transfer", "data", "store", "errors", "devices"},
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
            if node.module == "explorer":
                names += [f"explorer.{a.name}" for a in node.names]
    return names


def _modules() -> list[str]:
    return [
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
        for p in PACKAGE.rglob("*.py")
        if p.stem not in ("__init__", "__main__")
    ]


def test_no_streamlit_import_in_source():
    for path in PACKAGE.rglob("*.py"):
        assert not any(n.split(".")[0] == "streamlit" for n in _imports(path)), path


def test_wings_import_one_way():
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if part not in ALLOWED:  # cli, __main__, __init__: the front ends may use everything
            continue
        used = {n.split(".")[1] for n in _imports(path) if n.startswith("explorer.")}
        assert used <= ALLOWED[part], f"{path.relative_to(PACKAGE)} imports {sorted(used - ALLOWED[part])}"


def test_importing_every_module_leaves_streamlit_unloaded():
    code = "import sys\n" + "".join(f"import {m}\n" for m in _modules()) + "print('streamlit' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, check=True
    )
    assert out.stdout.strip() == "False"


def _module_graph() -> dict[str, set[str]]:
    """Each module of `explorer` and app_pages -> the project modules it imports, at the top or inside a
    function (a cycle through a function-level import is still a cycle). Packages' __init__ are left out."""
    root = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(root / "app_pages").rglob("*.py")]
    names = {".".join(p.relative_to(root).with_suffix("").parts): p for p in files if p.stem != "__init__"}
    graph = {}
    for name, path in names.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                edges |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        graph[name] = {e for e in edges if e in names and e != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                on.discard(w)
                component.append(w)
            on.discard(v)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    """No module imports, through any chain, a module that imports it back."""
    assert _cycles(_module_graph()) == []


def test_every_page_module_uses_streamlit():
    """app_pages/ holds the pages and their widgets; logic that needs no streamlit belongs in `explorer`."""
    pages = [p for p in (PACKAGE.parent / "app_pages").rglob("*.py") if p.stem != "__init__"]
    plain = [str(p.relative_to(PACKAGE.parent)) for p in pages if "streamlit" not in _imports(p)]
    assert plain == [], f"move into explorer (they import no streamlit): {plain}"
