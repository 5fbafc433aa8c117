"""Where the app keeps what it makes: caches, unpacked archives, per-session uploads, runs.

Everything lives under one folder, ``$EXPLORER_HOME`` or ``~/.cache/transfer-explorer``.
"""

from __future__ import annotations

import os
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
