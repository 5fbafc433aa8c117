"""What a fine-tuning run tells its front ends (CLI, app, tests), in the order it happens.

`FineTuner.events()` yields one `FinetuneStarted`, one `FinetuneEpoch` per finished epoch, then
exactly one final event: `FinetuneDone`, or `FinetuneStopped` (a stop request, honoured within one
batch). Like the execution wing's events (`explorer.execution.events`, which re-exports these), each
says its `kind` and whether it is `final`, and a final one its `message`: the app's job queue reads
them all alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FinetuneStarted:
    device: str  # in words, e.g. "CPU · 2 cores, 2 torch threads"
    weights: str  # the weights loaded, in words ("random (not pretrained)" when random)
    epochs: int
    params: dict  # `freezing.parameter_table`: trainable, frozen and total parameters
    n_train: int  # training images
    n_val: int  # validation images
    kind: ClassVar[str] = "start"
    final: ClassVar[bool] = False


@dataclass(frozen=True)
class FinetuneEpoch:
    epoch: int
    train_loss: float  # mean cross-entropy over the epoch's batches
    val_acc: float  # measured after the epoch, not counted in `seconds`
    seconds: float  # this epoch's training time
    elapsed: float  # training time of the run so far
    img_per_s: float
    kind: ClassVar[str] = "epoch"
    final: ClassVar[bool] = False

    def to_dict(self) -> dict:
        """The epoch as one line of the CLI's metrics.jsonl."""
        return {"kind": self.kind, "stage": "finetune", **asdict(self)}


@dataclass(frozen=True)
class FinetuneDone:
    val_acc: float  # the last epoch's
    seconds_per_epoch: dict  # {"first": s, "later": mean s of the others, or None}
    trainable_params: int
    total_params: int
    weights: str
    epochs: int
    config: dict  # the FinetuneConfig, as a dict
    model_path: str | None = None  # where the app saved the fine-tuned model (the CLI saves it itself)
    kind: ClassVar[str] = "done"
    final: ClassVar[bool] = True
    message: ClassVar[str] = ""


@dataclass(frozen=True)
class FinetuneStopped:
    message: str
    kind: ClassVar[str] = "stopped"
    final: ClassVar[bool] = True
