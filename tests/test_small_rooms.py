"""Small rooms: no module of the app or the package over 300 lines, no function over 50; a change
that grows one past splits it by concept (docs/ARCHITECTURE.md)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "app.py", *sorted((ROOT / "explorer").rglob("*.py")), *sorted((ROOT / "app_pages").rglob("*.py"))]
MODULE_LINES, FUNCTION_LINES = 300, 50


def test_no_module_over_300_lines_and_no_function_over_50():
    too_big = []
    for path in FILES:
        text, name = path.read_text(), path.relative_to(ROOT)
        if (n := len(text.splitlines())) > MODULE_LINES:
            too_big.append(f"{name}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (n := node.end_lineno - node.lineno + 1) > FUNCTION_LINES:
                too_big.append(f"{name}:{node.lineno} {node.name}: {n} lines")
    assert not too_big, "split these by concept: " + "; ".join(too_big)
