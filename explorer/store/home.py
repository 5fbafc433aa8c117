"""Where the app keeps what it makes: caches, unpacked archives, upload folders, runs.

Everything lives under one folder, ``$EXPLORER_HOME`` or ``~/.cache/transfer-explorer``; its small
JSON files (choices, shares) are read forgivingly and written atomically.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("EXPLORER_HOME") or Path.home() / ".cache" / "transfer-explorer")
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_number(name: str, default: float) -> float:
    """A non-negative number from the environment; the default when unset or unreadable."""
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if 0 <= value < float("inf") else default


def read_json(path: Path) -> dict:
    """The dict in a JSON file; {} when it is missing, unreadable or not a dict."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict) -> None:
    """Write `data` to `path` atomically: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
