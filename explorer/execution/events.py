"""What the execution wing tells its front ends: one typed event per thing that happens.

Every back-end yields these, whatever it runs on, each naming the run (`index`, its place in the
list of requests) and where it trains now, in words (`where`: "in this process", "cpu process 2 of
2, 1 thread(s)", "cuda, stacked x4", "ray node 10.0.0.5", or why it waits). A run's events come
in order: maybe `Waiting` (no device free yet) or `Cached` (finished before: nothing trains), then
`Started`, one `Epoch` per finished epoch (its checkpoint and metrics line are in the run's folder
before the event is yielded), maybe `Retrying` (its worker was lost: it trains again from its last
epoch, with a new `Started`), and exactly one final event: `Done`, `Stopped` or `Failed`.

The trainer's own events (`explorer.dann.events`, plain dicts that are also written as JSON) ride
inside `Started.start`, `Epoch.epoch` and `Done.summary`. `typed` turns a trainer's event into one of
these; a back-end never hands out a bare dict.

Around the runs' events: a sweep's (`SweepStarted` first, `SweepEnded` last) and a measured auto
run's (`MeasureStarted`, `MeasureEnded`); fine-tuning's own events are `explorer.transfer.events`.
Every event the job queue (`jobs.py`) runs says its `kind` and whether it is `final`; a final one
also its `message` (empty when it ended well): the job's state and message are its last event's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from explorer.transfer.events import FinetuneDone, FinetuneEpoch, FinetuneStarted, FinetuneStopped

__all__ = [
    "Cached",
    "Done",
    "Epoch",
    "Failed",
    "FinetuneDone",
    "FinetuneEpoch",
    "FinetuneStarted",
    "FinetuneStopped",
    "MeasureEnded",
    "MeasureStarted",
    "Retrying",
    "RunEvent",
    "Started",
    "Stopped",
    "SweepEnded",
    "SweepStarted",
    "Waiting",
    "typed",
]


@dataclass(frozen=True)
class RunEvent:
    index: int  # which of the requests
    where: str  # where it trains now, in words
    kind: ClassVar[str] = ""
    final: ClassVar[bool] = False  # the run's last event


@dataclass(frozen=True)
class Started(RunEvent):
    start: dict  # the trainer's StartEvent: run id, folder, device, epochs, resumed_from, history, preprocess
    kind: ClassVar[str] = "start"


@dataclass(frozen=True)
class Epoch(RunEvent):
    epoch: dict  # the trainer's EpochEvent: one line of metrics.jsonl
    kind: ClassVar[str] = "epoch"


@dataclass(frozen=True)
class Waiting(RunEvent):
    message: str  # why it has not started (no free device; a worker still starting)
    kind: ClassVar[str] = "waiting"


@dataclass(frozen=True)
class Retrying(RunEvent):
    message: str  # what was lost, and the epoch it trains again from
    kind: ClassVar[str] = "retry"


@dataclass(frozen=True)
class Cached(RunEvent):
    history: list  # the metrics of a run that had finished before: it is not trained again
    kind: ClassVar[str] = "cached"


@dataclass(frozen=True)
class Done(RunEvent):
    summary: dict  # the trainer's Summary: last numbers, the selected checkpoint, speed
    kind: ClassVar[str] = "done"
    final: ClassVar[bool] = True
    message: ClassVar[str] = ""


@dataclass(frozen=True)
class Stopped(RunEvent):
    message: str
    epoch: int = 0  # the last finished epoch, whose checkpoint is kept
    kind: ClassVar[str] = "stopped"
    final: ClassVar[bool] = True


@dataclass(frozen=True)
class Failed(RunEvent):
    message: str  # a sentence for the user (a NaN loss names lambda and lr)
    epoch: int | None = None  # the epoch that diverged, when it did
    kind: ClassVar[str] = "error"
    final: ClassVar[bool] = True


def typed(index: int, where: str, event: dict) -> RunEvent:
    """A trainer's event as the typed event of run `index`."""
    kind = event["kind"]
    if kind == "start":
        return Started(index, where, event)
    if kind == "epoch":
        return Epoch(index, where, event)
    if kind == "done":
        return Done(index, where, {k: v for k, v in event.items() if k != "kind"})
    if kind == "stopped":
        return Stopped(index, where, event["message"], event.get("epoch", 0))
    if kind == "error":
        return Failed(index, where, event["message"], event.get("epoch"))
    raise ValueError(f"not a run event: {kind!r}")


@dataclass(frozen=True)
class SweepStarted:
    runs: int
    cached: int  # finished before: not trained again
    plan: str  # where the others train, in words
    total_epochs: int
    points: list = field(default_factory=list)  # each run's grid point, seed included
    kind: ClassVar[str] = "sweep"
    final: ClassVar[bool] = False


@dataclass(frozen=True)
class SweepEnded:
    stopped: bool
    runs: int
    cached: int
    seconds: float
    best: dict | None  # the verdict (`verdict.best`)
    oracle: dict | None
    agreement: dict | None
    message: str = ""
    final: ClassVar[bool] = True

    @property
    def kind(self) -> str:
        return "stopped" if self.stopped else "done"


@dataclass(frozen=True)
class MeasureStarted:
    options: list  # the options' labels, in order (an event's index names one)
    folders: list  # each option's run folder
    note: str
    epochs: int  # each option's epochs (both stages)
    kind: ClassVar[str] = "measure"
    final: ClassVar[bool] = False


@dataclass(frozen=True)
class MeasureEnded:
    stopped: bool
    decision: dict | None  # auto.decide's: chosen, tried (every option's evidence), why
    folder: Path | None  # the winner's run folder
    message: str = ""
    final: ClassVar[bool] = True

    @property
    def kind(self) -> str:
        return "stopped" if self.stopped else ("done" if self.decision else "error")
