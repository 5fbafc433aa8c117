"""What a sweep will cost before it starts: about how long, and how much checkpoint space.

Seconds: `estimates.run_seconds` of the runs not yet trained, side by side when the back-end runs
them so. Bytes: each checkpoint holds the weights (``last.pt`` also Adam's two moments); a run keeps its
marked epochs, its last one and one best checkpoint per validator.
"""

from __future__ import annotations

import functools

import torch

from explorer.dann.models import build
from explorer.dann.runfolder import marked
from explorer.dann.validators import NAMES
from explorer.execution import estimates
from explorer.execution.processes import Processes
from explorer.execution.sweep import Sweep


def seconds(sweep: Sweep) -> float:
    """About how long the sweep's runs not yet trained will take."""
    pending = sweep.pending()
    if not pending:
        return 0.0
    side_by_side = isinstance(sweep.choose(len(pending)), Processes)
    return estimates.run_seconds([r.config for r in pending], sweep.dataset, sweep.device_type, side_by_side)


def checkpoint_bytes(sweep: Sweep) -> int:
    """About how much the sweep's runs not yet trained will write."""
    total = 0
    for r in sweep.pending():
        weights = 4 * _numbers(
            sweep.dataset.source.images.shape[1], len(sweep.dataset.classes), r.config.width
        )
        epochs = r.config.epochs + r.config.self_train_epochs
        kept = sum(marked(e) for e in range(epochs + 1)) + (not marked(epochs)) + len(NAMES)
        total += weights * (kept + 3)
    return total


@functools.lru_cache(maxsize=64)
def _numbers(in_channels: int, classes: int, width: float) -> int:
    """How many numbers the networks' state holds: built once per shape (the sweep form asks on
    every draw of the page)."""
    with torch.device("meta"):
        models = build(in_channels, classes, width)
    return sum(t.numel() for t in models.state_dict().values())
