"""A measured auto run: every shortlisted option (`auto.plan`) trained side by side as its own run
(the back-end `choose` picks for several runs: worker processes on a CPU), then the option whose
checkpoint the default validator prefers is chosen without a target label, kept for later runs on
the same data (`explorer.store.decisions`) and written into the winner's config.json (``auto``).

``Measurement(config, dataset, root, keep).events(stop)`` yields `MeasureStarted`, the typed events
of every option's run (`index`: the option), and `MeasureEnded` with the decision. An option that
fails (a NaN loss) is dropped with its message and the others go on; a stop stops them all, keeps
their finished epochs, and decides nothing (the next start resumes them). Every option's run stays
in its folder (``root/<run id>``) like any run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.execution import auto
from explorer.execution.backends import Request
from explorer.execution.choose import choose
from explorer.execution.events import Failed, MeasureEnded, MeasureStarted, RunEvent
from explorer.execution.keep import Keep
from explorer.store import decisions, runs


class Measurement:
    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        root: str | Path,
        keep: Keep | None = None,
        *,
        cluster=None,
        workers: int | None = None,
        plan: auto.Plan | None = None,
    ):
        self.config, self.dataset, self.keep = config, dataset, keep or Keep()
        self.plan = plan or auto.plan(config, dataset)
        self.backend = choose(config, len(self.plan.configs), cluster=cluster, workers=workers)
        device = self.backend.device_type(config)
        self.folders = [Path(root) / c.run_id(dataset.fingerprint, device) for c in self.plan.configs]

    def events(
        self, stop: threading.Event | None = None
    ) -> Iterator[MeasureStarted | RunEvent | MeasureEnded]:
        stop, options = stop or threading.Event(), self.plan.options
        epochs = self.config.epochs + self.config.self_train_epochs
        yield MeasureStarted([o.label for o in options], list(self.folders), self.plan.note, epochs)
        requests = [Request(i, c, f) for i, (c, f) in enumerate(zip(self.plan.configs, self.folders))]
        asked = {"canny": self.config.to_dict()["canny"], "augment": self.config.augment}
        keep = Keep(
            self.keep.owner,
            self.keep.info | {"auto": {"measuring": True, "options": len(options), "asked": asked}},
        )
        failed: dict[int, str] = {}
        for event in self.backend.train(requests, self.dataset, stop, keep):
            if isinstance(event, Failed):
                failed[event.index] = event.message
            yield event
        if stop.is_set():
            yield MeasureEnded(
                True,
                None,
                None,
                "Stopped: every option keeps its last finished epoch; the next start resumes them.",
            )
            return
        histories = [
            None if i in failed else (runs.read_run(f).metrics if f.is_dir() else None)
            for i, f in enumerate(self.folders)
        ]
        try:
            decision = auto.decide(
                options,
                histories,
                self.dataset.fingerprint,
                self.config.method,
                epochs=self.config.epochs,
                budget=self.config.time_budget,
            )
        except ValueError:
            yield MeasureEnded(
                False, None, None, "No option trained far enough to be judged: " + "; ".join(failed.values())
            )
            return
        decision["dropped"] = {options[i].label: message for i, message in failed.items()}
        decisions.save(decision)
        winner = self.folders[decision["chosen"]["index"]]
        runs.annotate(winner, auto=decision | {"asked": asked})
        yield MeasureEnded(False, decision, winner)
