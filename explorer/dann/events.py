"""What a training run tells its front ends (CLI, app, tests), in the order it happens.

`Trainer.events()` yields one `StartEvent`, then one `EpochEvent` per finished epoch, then exactly
one final event: `DoneEvent`, `StoppedEvent` (a stop request, honoured within one step; the last
finished epoch is kept) or `ErrorEvent` (the loss became NaN or inf).

They are plain dicts, typed here: they cross processes (worker processes, a Ray cluster) and are
written as JSON as they are. Each line of a run's ``metrics.jsonl`` is one `EpochEvent`. The
execution wing hands each on inside one of its typed events (`explorer.execution.events.typed`).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from explorer.dann.validators import DEFAULT, row_at, selected_epoch

FINAL = ("done", "stopped", "error")


class StartEvent(TypedDict):
    kind: Literal["start"]
    run_id: str
    dir: str  # the run folder: config.json, metrics.jsonl, last.pt, epoch_NNNN.pt
    device: str  # in words, e.g. "CPU · 2 cores, 2 torch threads · speed path: eager, NCHW, fp32"
    epochs: int  # DANN (or source-only) epochs asked for
    self_train_epochs: int
    resumed_from: int  # 0 for a new run, else the epoch of the checkpoint it resumed
    history: list[EpochEvent]  # the epochs done before a resume
    preprocess: dict  # explorer.data.preprocess.Preprocess.to_dict(): what was done to the images, and why


# The functional form, because one key is the keyword `lambda`.
EpochEvent = TypedDict(
    "EpochEvent",
    {
        "kind": Literal["epoch"],
        "stage": Literal["dann", "self-train"],
        "epoch": int,  # counts both stages: 1 .. epochs + self_train_epochs
        "lambda": float,  # the adversarial weight at the epoch's last step (0 in self-training)
        "lr": float,  # the learning rate at the epoch's last step
        "class_loss": float,  # mean source cross-entropy over the epoch's steps
        "domain_loss": "float | None",  # mean discriminator BCE (DANN stage)
        "source_acc": float,  # training accuracy on the (augmented) source batches
        "domain_acc": "float | None",  # discriminator accuracy: 0.5 = the domains look alike (DANN stage)
        "pseudo_loss": "float | None",  # mean masked cross-entropy on pseudo-labels (self-training stage)
        "pseudo_frac": "float | None",  # fraction of target images confident enough to be pseudo-labelled
        "target_acc": "float | None",  # on the whole target, when it is labelled; never used for training
        "validators": "dict[str, float]",  # label-free scores, higher is better (explorer.dann.validators)
        "seconds": float,  # this epoch's training time
        "elapsed": float,  # training time of the run so far (without evaluation and checkpoints)
        "img_per_s": float,  # source images per second in this epoch
        "progress": float,  # p in [0, 1] that drives the schedules: epochs done, or time spent of a budget
    },
)


class Summary(TypedDict):
    run_id: str
    epochs: int
    target_acc: float | None
    selected: dict  # the checkpoint the default validator picks: {"by", "epoch", "target_acc"}
    source_acc: float | None
    domain_acc: float | None
    seconds: float
    img_per_s: float | None
    device: str  # "cpu" or "cuda"


class DoneEvent(Summary):
    kind: Literal["done"]


class StoppedEvent(TypedDict):
    kind: Literal["stopped"]
    epoch: int  # the last finished epoch, whose checkpoint is kept
    message: str


class ErrorEvent(TypedDict):
    kind: Literal["error"]
    epoch: int  # the epoch that diverged
    message: str  # names lambda and lr


Event = StartEvent | EpochEvent | DoneEvent | StoppedEvent | ErrorEvent


def summary(history: list[EpochEvent], run_id: str, epoch: int, elapsed: float, device: str) -> Summary:
    """A run's numbers at its end: the last epoch's, and the checkpoint the default validator selects."""
    last = history[-1] if history else {}
    images = sum(h["img_per_s"] * h["seconds"] for h in history)
    domain_acc = next((h["domain_acc"] for h in reversed(history) if h["domain_acc"] is not None), None)
    chosen = selected_epoch(history, DEFAULT) or epoch
    selected = {"by": DEFAULT, "epoch": chosen, "target_acc": row_at(history, chosen).get("target_acc")}
    return Summary(
        run_id=run_id,
        epochs=epoch,
        target_acc=last.get("target_acc"),
        selected=selected,
        source_acc=last.get("source_acc"),
        domain_acc=domain_acc,
        seconds=elapsed,
        img_per_s=images / elapsed if elapsed else None,
        device=device,
    )
