"""Small rooms: modules of one concept, formatted by ruff at line length 110, about 400 lines at most;
functions of one idea, about 60 lines at most. A change that grows one past splits it by concept, never
by squeezing lines (docs/ARCHITECTURE.md)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [
    ROOT / "app.py",
    *sorted((ROOT / "explorer").rglob("*.py")),
    *sorted((ROOT / "app_pages").rglob("*.py")),
    *sorted((ROOT / "bench").rglob("*.py")),
]
MODULE_LINES, FUNCTION_LINES = 400, 60


def test_no_module_over_400_lines_and_no_function_over_60():
    too_big = []
    for path in FILES:
        text, name = path.read_text(), path.relative_to(ROOT)
        if (n := len(text.splitlines())) > MODULE_LINES:
            too_big.append(f"{name}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and (n := node.end_lineno - node.lineno + 1) > FUNCTION_LINES
            ):
                too_big.append(f"{name}:{node.lineno} {node.name}: {n} lines")
    assert not too_big, "split these by concept: " + "; ".join(too_big)
