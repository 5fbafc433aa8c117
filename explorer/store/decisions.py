"""What measured auto decided for a pair of domains, kept so later runs on the same data reuse it.

One small JSON file per data pair and method under ``$EXPLORER_HOME/auto/``: the option that won,
every option tried with its evidence, the validator that judged and when. Keyed by the data's
fingerprint, so a decision is never reused for data that changed; written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from explorer.store.home import subdir


def path(fingerprint: str, method: str) -> Path:
    return subdir("auto") / f"{fingerprint}-{method}.json"


def load(fingerprint: str, method: str) -> dict | None:
    """The decision for this data and method; None when there is none (or it cannot be read)."""
    try:
        decision = json.loads(path(fingerprint, method).read_text())
    except (OSError, ValueError):
        return None
    return decision if decision.get("fingerprint") == fingerprint else None


def save(decision: dict) -> Path:
    target = path(decision["fingerprint"], decision["method"])
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(decision, indent=2))
    os.replace(tmp, target)
    return target


def forget(fingerprint: str, method: str) -> None:
    path(fingerprint, method).unlink(missing_ok=True)
