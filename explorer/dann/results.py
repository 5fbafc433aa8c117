"""What a run reached, one number per idea, as every panel of Train DANN says it.

A run *ships* one checkpoint, the epoch its validator selects (`validators.DEFAULT`, as
`runfolder.shipped` picks the file): that checkpoint's target accuracy is *the* accuracy of the run,
written the same way on every panel (`percent`, one decimal) and always with where it comes from,
"at epoch 12 (selected by confidence and balance of the target predictions)". The last epoch's
accuracy, where a panel shows it too, is called "last epoch". Two source accuracies are kept apart
by name: the accuracy on the (augmented) training batches, logged every epoch, and the held-out
source accuracy, a validator.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from explorer.dann.validators import DEFAULT, NAMES, PLAIN, named, row_at, selected_epoch
from explorer.store import runs

TRAINING_BATCHES = "source accuracy (training batches)"
DOMAIN = "domain classifier accuracy"


def percent_value(x: float | None) -> float | None:
    """An accuracy in [0, 1] as the percentage the pages show, rounded to one decimal: tables hold
    this number and sentences write it, so both read the same."""
    return None if x is None else round(100 * x, 1)


def percent(x: float | None) -> str:
    """``88.7%`` (an em dash when there is no number, e.g. an unlabelled target)."""
    return "—" if x is None else f"{percent_value(x):.1f}%"


def decimals(a: float, b: float) -> tuple[str, str]:
    """Two scores to compare in a sentence: two decimals, three where two would show them equal."""
    for digits in (2, 3):
        shown = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if shown[0] != shown[1]:
            break
    return shown


@dataclass(frozen=True)
class Shipped:
    """The checkpoint a run ships and the run's last epoch, with their target accuracies (None on an
    unlabelled target)."""

    epoch: int | None
    target_acc: float | None
    by: str  # the validator that selected it, or "last" (no scores by it: the last epoch)
    last_epoch: int | None
    last_target_acc: float | None

    @property
    def at(self) -> str:
        """Where the number comes from: ``at epoch 12 (selected by ...)``, ``at the last epoch, 15``."""
        if self.by == "last":
            return f"at the last epoch, {self.epoch}"
        return f"at epoch {self.epoch} (selected by {PLAIN.get(self.by, self.by)})"

    @property
    def words(self) -> str:
        """``88.7% at epoch 12 (selected by ...)``."""
        return f"{percent(self.target_acc)} {self.at}"

    @property
    def last_words(self) -> str:
        """The last epoch's accuracy beside the shipped one (empty when they are the same epoch)."""
        if self.last_epoch == self.epoch or self.last_target_acc is None:
            return ""
        return f"the last epoch ({self.last_epoch}) reached {percent(self.last_target_acc)}"


def shipped(history: list[dict], select: str = DEFAULT) -> Shipped:
    """What a run's metrics say it ships: the epoch `select` picks (the last one when it has no
    `select` scores, as `runfolder.shipped` falls back to ``last.pt``)."""
    last = history[-1] if history else {}
    epoch = selected_epoch(history, select) if select != "last" else None
    by = select if epoch is not None else "last"
    epoch = epoch if epoch is not None else last.get("epoch")
    return Shipped(
        epoch, row_at(history, epoch).get("target_acc"), by, last.get("epoch"), last.get("target_acc")
    )


def compare_table(records: list[runs.RunRecord]) -> pd.DataFrame:
    """Runs side by side: the accuracy each ships and the epoch it comes from, the last epoch's (in
    percent), and each run's own training time. The other accuracies are in the curves above it."""
    rows = []
    for r in records:
        last, ship = r.metrics[-1], shipped(r.metrics)
        rows.append(
            {
                "run": r.label,  # its λ and schedule are in its label
                "preprocessing": runs.preprocessing(r.config),
                "epochs": last["epoch"],
                "target accuracy": percent_value(ship.target_acc),
                "at epoch": ship.epoch,
                "target accuracy, last epoch": percent_value(last.get("target_acc")),
                "training time (s)": round(last.get("elapsed", 0), 1),
            }
        )
    return pd.DataFrame(rows)


def epochs_table(histories: dict[str, list[dict]]) -> pd.DataFrame:
    """Every number of every option, epoch by epoch (accuracies in percent, validators by their
    plain names): what measured auto's chart leaves out."""
    rows = [
        {
            "option": label,
            "epoch": h["epoch"],
            "target accuracy": percent_value(h.get("target_acc")),
            TRAINING_BATCHES: percent_value(h.get("source_acc")),
            DOMAIN: percent_value(h.get("domain_acc")),
            "class loss": h.get("class_loss"),
            "domain loss": h.get("domain_loss"),
            "λ": h.get("lambda"),
            **{named(n): (h.get("validators") or {}).get(n) for n in NAMES},
        }
        for label, history in histories.items()
        for h in history
    ]
    return pd.DataFrame(rows)


def measuring_long(histories: dict[str, list[dict]], by: str = DEFAULT) -> pd.DataFrame:
    """(option, epoch, panel, value) rows for the measuring chart: each option's `by` score, and its
    target accuracy where the target is labelled."""
    rows = []
    for label, history in histories.items():
        for h in history:
            score = (h.get("validators") or {}).get(by)
            if score is not None:
                rows.append({"option": label, "epoch": h["epoch"], "panel": "score", "value": score})
            if h.get("target_acc") is not None:
                rows.append(
                    {"option": label, "epoch": h["epoch"], "panel": "target", "value": h["target_acc"]}
                )
    return pd.DataFrame(rows, columns=["option", "epoch", "panel", "value"])
