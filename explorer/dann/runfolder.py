"""A run's folder, the only place a `Trainer` writes::

    config.json      the config, the run id, the data's fingerprint and classes
    metrics.jsonl    one `EpochEvent` per line
    last.pt          after every epoch, with the optimiser state (for resuming)
    epoch_NNNN.pt    at marked epochs (0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, ... and the last),
                     for Feature Space and its training movie
    best-<v>.pt      the epoch validator <v> scores highest (explorer.dann.validators)

Checkpoints are written atomically (`explorer.store.checkpoints`). The checkpoint is the truth:
on resume, metrics.jsonl is rewritten from ``last.pt``, so a crash between saving a checkpoint and
appending its metrics line loses nothing.

A run *ships* one checkpoint (`shipped`): ``best-<v>.pt`` of the validator that selects (the default
one unless asked otherwise), else ``last.pt``. Its predictions, its download, its class-activation
maps and Feature Space's default pick all come from that one file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from explorer.dann.validators import DEFAULT, named, selected_epoch
from explorer.store import checkpoints, tail


def marked(epoch: int) -> bool:
    """Epochs whose checkpoints are kept: 0, then 1, 1.5, 2, 3, 5 and 7 times each power of ten
    (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, ...): dense early, where features change most, so
    a 40-epoch run keeps 11 frames for the training movie (about 1 MB each at the default width)."""
    if epoch == 0:
        return True
    mag = 10 ** int(math.log10(epoch))
    return epoch * 2 in (2 * mag, 3 * mag, 4 * mag, 6 * mag, 10 * mag, 14 * mag)


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.best: dict[str, float] = {}  # each validator's best score so far

    def begin(self, info: dict) -> None:
        """A new run: config.json and an empty metrics.jsonl."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "config.json").write_text(json.dumps(info, indent=2))
        self._replace_metrics("")

    def save(self, epoch: int, last_epoch: int, payload: Callable[[bool], dict]) -> None:
        """``last.pt`` (payload with the optimiser state), and ``epoch_NNNN.pt`` when the epoch is kept."""
        checkpoints.save(self.path / "last.pt", payload(True))
        if marked(epoch) or epoch == last_epoch:
            checkpoints.save(self.path / f"epoch_{epoch:04d}.pt", payload(False))

    def keep_best(self, validators: dict[str, float], payload: Callable[[bool], dict]) -> None:
        """``best-<v>.pt`` for each validator whose score is its highest so far (ties: the later epoch)."""
        for name, score in validators.items():
            if score >= self.best.get(name, -math.inf):
                self.best[name] = score
                checkpoints.save(self.path / f"best-{name}.pt", payload(False))

    def append(self, event: dict) -> None:
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(event) + "\n")

    def rewrite(self, history: list[dict]) -> None:
        """metrics.jsonl from a resumed checkpoint's history, which is the truth."""
        self._replace_metrics("".join(json.dumps(h) + "\n" for h in history))
        for h in history:
            for name, score in (h.get("validators") or {}).items():
                self.best[name] = max(score, self.best.get(name, -math.inf))

    def _replace_metrics(self, text: str) -> None:
        """A new metrics.jsonl, whole (a new file: a reader that follows the old one starts again)."""
        tmp = self.path / f".metrics.jsonl.{os.getpid()}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.path / "metrics.jsonl")

    def last(self) -> dict | None:
        """The checkpoint to resume from; None for a new run."""
        path = self.path / "last.pt"
        return checkpoints.load(path) if path.is_file() else None


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file of a run: its epoch, and why it is the one (`by`: the validator that
    selected it; None for an epoch kept for itself, or the last one)."""

    path: Path
    epoch: int | None  # None: no epoch finished yet
    why: str  # in words: "the best epoch by im", "the last epoch", "a marked epoch"
    by: str | None = None

    @property
    def label(self) -> str:
        """For display only: ``epoch 3 (selected by confidence and balance of the target predictions
        (IM))``, ``epoch 5``."""
        return f"epoch {self.epoch}" + (f" (selected by {named(self.by)})" if self.by else "")


def shipped(run_dir: str | Path, select: str = DEFAULT, history: list[dict] | None = None) -> Checkpoint:
    """The checkpoint the run ships: the best epoch by validator `select` (``last``: the last epoch),
    else the last epoch when the run has no `select` scores. `history` is the run's metrics (read
    from its folder when not given). Its path is ``last.pt`` even before there is one: check
    ``path.is_file()`` where a run may not have finished an epoch."""
    run_dir = Path(run_dir)
    history = tail.rows(run_dir / "metrics.jsonl") if history is None else history
    best = run_dir / f"best-{select}.pt"
    if select != "last" and best.is_file():
        return Checkpoint(best, selected_epoch(history, select), f"the best epoch by {select}", select)
    why = "the last epoch" + ("" if select == "last" else f" (no {select} scores: no held-out source)")
    return Checkpoint(run_dir / "last.pt", history[-1]["epoch"] if history else None, why)


def kept_checkpoints(run_dir: str | Path, ship: Checkpoint) -> list[Checkpoint]:
    """A run's checkpoints to look at, in epoch order: the marked epochs, with `ship` (the checkpoint
    the run ships) in its epoch's place when a validator selected it."""
    found = {
        int(p.stem[6:]): Checkpoint(p, int(p.stem[6:]), "a marked epoch")
        for p in Path(run_dir).glob("epoch_*.pt")
        if p.stem[6:].isdigit()
    }
    if ship.by is not None and ship.epoch is not None:
        found[ship.epoch] = ship
    return [found[e] for e in sorted(found)]
