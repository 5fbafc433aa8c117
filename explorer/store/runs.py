"""Finished and stopped runs in the checkpoint cache, read back for comparison and download."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from explorer.store import tail
from explorer.store.home import subdir

CURVES = {
    "class_loss": "loss",
    "domain_loss": "loss",
    "source_acc": "accuracy",
    "target_acc": "accuracy",
    "domain_acc": "accuracy",
    "lambda": "lambda",
}


def run_label(config: dict) -> str:
    """A run's method in a few words, e.g. ``dann λ=0.1 constant``, from its config as a dict."""
    if config["method"] == "source-only":
        return "source-only"
    return f"dann λ={config['lamb']:g} {config['lambda_schedule']}"


def preprocessing(config: dict) -> str:
    """What was done to the images, in words: the run's recorded decision, or its Canny setting."""
    if (config.get("preprocess") or {}).get("label"):
        return ("auto: " if config.get("canny") == "auto" else "") + config["preprocess"]["label"]
    canny = config.get("canny")
    return "/".join(map(str, canny)) if isinstance(canny, list) else "off"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    dir: Path
    config: dict
    metrics: list[dict]

    @property
    def short_id(self) -> str:
        """The run's id as people see it, in labels and file names: its first six characters."""
        return self.run_id[:6]

    @property
    def label(self) -> str:
        return f"{run_label(self.config)} · seed {self.config.get('seed', 0)} · {self.short_id}"

    @property
    def finished(self) -> bool:
        """All epochs done, or (with a time budget) the budget spent and the self-training epochs done."""
        c, m = self.config, self.metrics
        if len(m) >= c["epochs"] + c.get("self_train_epochs", 0):
            return True
        dann = [h for h in m if h.get("stage", "dann") == "dann"]
        spent = bool(c.get("time_budget")) and bool(dann) and dann[-1]["elapsed"] >= c["time_budget"]
        return spent and len(m) - len(dann) >= c.get("self_train_epochs", 0)


def read_config(run_dir: Path) -> dict | None:
    """A run folder's config.json as a dict; None when it is missing or not a JSON object."""
    try:
        info = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def read_run(run_dir: str | Path, info: dict | None = None) -> RunRecord | None:
    """A run folder's config and metrics; None if it has no readable config. A half-written
    metrics line (a crash mid-write) is skipped. The metrics are read incrementally (`tail`)."""
    run_dir = Path(run_dir)
    info = info or read_config(run_dir)
    if info is None:
        return None
    metrics = tail.rows(run_dir / "metrics.jsonl")
    return RunRecord(info.get("run_id", run_dir.name), run_dir, info, metrics)


def add_owner(run_dir: str | Path, owner: str) -> None:
    """Record that `owner` (a browser session id) started or resumed this run."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if owner not in owners(run_dir):
        with open(run_dir / "owners", "a") as f:
            f.write(owner + "\n")


def owners(run_dir: Path) -> set[str]:
    try:
        return set((run_dir / "owners").read_text().split())
    except OSError:
        return set()


def is_option(record: RunRecord) -> bool:
    """An option that measured auto trained and did not ship (or a measurement not decided yet): kept
    in the cache like any run, but not the run a user started."""
    return bool((record.config.get("auto") or {}).get("measuring"))


def list_runs(
    data_fingerprint: str, owner: str | None = None, root: str | Path | None = None
) -> list[RunRecord]:
    """Runs trained on this data (same fingerprint), newest first; with `owner`, only that owner's."""
    root = Path(root or subdir("runs"))
    records = []
    for d in root.iterdir():
        info = read_config(d) if d.is_dir() else None
        if info is None or info.get("data_fingerprint") != data_fingerprint:
            continue
        if owner is not None and owner not in owners(d):
            continue
        record = read_run(d, info)
        if record.metrics:
            records.append(record)
    return sorted(records, key=lambda r: (r.dir / "metrics.jsonl").stat().st_mtime, reverse=True)


def curves(runs: dict[str, list[dict]]) -> pd.DataFrame:
    """Long table (run, epoch, metric, panel, value) of every curve, for the charts."""
    rows = [
        {"run": label, "epoch": m["epoch"], "metric": key, "panel": panel, "value": m[key]}
        for label, metrics in runs.items()
        for m in metrics
        for key, panel in CURVES.items()
        if m.get(key) is not None
    ]
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "panel", "value"])


def annotate(run_dir: Path, **entries) -> None:
    """Add `entries` to a run's config.json (atomically), e.g. how auto chose its options."""
    import os

    path = Path(run_dir) / "config.json"
    config = json.loads(path.read_text()) | entries
    tmp = path.with_name(f".config.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, path)
