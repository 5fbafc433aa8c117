"""Background training jobs: one worker thread per device, a FIFO queue, many owners.

The app's pages must never train in Streamlit's script thread, and two browser sessions must not
train on the same GPU at once. `JobQueue.submit` puts a job in line; one worker thread per device
type ("cpu", "cuda") takes jobs in order and iterates their event stream (the typed events of
`events.py`), storing every event on the job. Pages poll `Job.snapshot()`; `Job.stop()` asks the
engine to end within one step. A job's state when its stream ends is its last event's: a run's (a
sweep's, a fine-tuning's) final event, or done.

`Job.left()` is about how long a job still takes: the queue's estimate (`expected`) less the time
spent, until its events say how much of its training is done (`done_fraction`: epochs trained over
epochs to train, for a run, a measurement, a sweep or a fine-tuning), then the rest at the pace so
far; `left_words` says it the one way every progress bar does ("about 40 s left").

Each job has an owner (a browser session id); `jobs(owner)` lists only that owner's jobs.

Jobs for a Ray cluster (device `CLUSTER`) do not wait here: each follows its run from its own
thread at once, and the cluster queues them for its devices (`explorer.execution.ray_runs`).
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from explorer.errors import ExplorerError
from explorer.execution.events import (
    Cached,
    Failed,
    FinetuneStarted,
    MeasureStarted,
    Started,
    SweepStarted,
    Waiting,
)

_ids = itertools.count(1)
CLUSTER = "ray"  # the lane of jobs that a Ray cluster schedules
# seconds between a watching page's looks at a running job: about as often as its events come
POLL = (1.0, 5.0)
WAITING_POLL = 5.0  # and at jobs that all wait: only their place in the queue changes
# finished jobs remembered (the newest): their runs stay in the cache, found from there
KEEP_FINISHED = 256


@dataclass(eq=False)
class Job:
    owner: str
    label: str
    device: str
    start: Callable[[threading.Event], Iterator] | None  # returns the engine's event stream; None once run
    id: int = field(default_factory=lambda: next(_ids))
    state: str = "queued"  # queued, running, done, stopped, error
    events: list = field(default_factory=list)  # typed events (`events.py`), in order
    message: str = ""
    stop_event: threading.Event = field(default_factory=threading.Event)
    expected: float | None = None  # about how many seconds it takes once it starts; None: not known
    started: float | None = None  # time.monotonic() when it started
    gap: float | None = None  # seconds between its events, a running mean
    last_event: float | None = None  # time.monotonic() of its latest event
    began: float | None = None  # when its training began: its start, or the last of the Waiting it began with
    first_done: tuple[float, float] | None = None  # when its first epoch ended, and the fraction then done

    def stop(self) -> None:
        self.stop_event.set()

    def add(self, event) -> None:
        """Store the next event (the worker thread), and how long it took to come."""
        now = time.monotonic()
        since = now - (self.last_event or self.started or now)
        self.gap = since if self.gap is None else 0.7 * self.gap + 0.3 * since
        self.last_event = now
        if isinstance(event, Waiting) and all(isinstance(e, Waiting) for e in self.events):
            self.began = now  # a cluster has not placed it yet: waiting there is no training time
        self.events.append(event)
        if self.first_done is None and getattr(event, "kind", None) == "epoch":
            self.first_done = (now, done_fraction(self.events) or 0.0)

    def left(self) -> float | None:
        """About how many seconds until it ends: its expected time less the time spent, until its
        epochs say how much is done (`done_fraction`); then the rest at the pace since its first epoch
        ended (what came before, starting workers, loading data, is paid once and not again)."""
        if self.finished:
            return 0.0
        if self.state != "running":
            return self.expected
        now = time.monotonic()
        done = done_fraction(self.events)
        if self.first_done is not None and done is not None:
            at, first = self.first_done
            if done > first:
                return (now - at) * (1 - done) / (done - first)
            if self.expected is not None:
                done = None  # one epoch in: its time holds the start, so the queue's estimate says more
        return left_after(now - (self.began or self.started or now), done, self.expected)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "stopped", "error")

    def snapshot(self) -> tuple[str, list, str]:
        """State, a copy of the events so far, and the final message: safe to read from another thread."""
        return self.state, list(self.events), self.message


class JobQueue:
    def __init__(self):
        self._lock = threading.Condition()
        self._queues: dict[str, list[Job]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._all: list[Job] = []

    def submit(
        self,
        owner: str,
        label: str,
        device: str,
        start: Callable[[threading.Event], Iterator],
        expected: float | None = None,
    ) -> Job:
        """Put a job in `device`'s line (`CLUSTER`: its own thread at once); `expected`: about how
        many seconds it takes once it starts, for the estimates of the jobs behind it."""
        job = Job(owner=owner, label=label, device=device, start=start, expected=expected)
        with self._lock:
            self._all.append(job)
            done = [j for j in self._all if j.finished]
            # a server up for a term must not keep every event of every run
            if len(done) > KEEP_FINISHED:
                forget = set(done[: len(done) - KEEP_FINISHED])
                self._all = [j for j in self._all if j not in forget]
            if device == CLUSTER:
                threading.Thread(
                    target=self._run, args=(job,), name=f"explorer-ray-job-{job.id}", daemon=True
                ).start()
                return job
            self._queues.setdefault(device, []).append(job)
            if device not in self._workers or not self._workers[device].is_alive():
                t = threading.Thread(
                    target=self._work, args=(device,), name=f"explorer-{device}", daemon=True
                )
                self._workers[device] = t
                t.start()
            self._lock.notify_all()
        return job

    def jobs(self, owner: str) -> list[Job]:
        with self._lock:
            return [j for j in self._all if j.owner == owner]

    def waiting_ahead(self, job: Job) -> int:
        """How many jobs (anyone's) will run on the device before `job`: 0 when it is running or next."""
        with self._lock:
            queue = self._queues.get(job.device, [])
            return queue.index(job) if job in queue else 0

    def wait(self, job: Job) -> float | None:
        """About how many seconds until `job` starts: what is left of the jobs ahead of it; None when
        one of them cannot say."""
        with self._lock:
            queue = self._queues.get(job.device, [])
            ahead = queue[: queue.index(job)] if job in queue else []
        left = [j.left() for j in ahead]
        return None if None in left else sum(left)

    def _work(self, device: str) -> None:
        while True:
            with self._lock:
                while not self._queues.get(device):
                    if not self._lock.wait(timeout=60):
                        if not self._queues.get(device):
                            del self._workers[device]
                            return
                job = self._queues[device][0]
            self._run(job)
            # once a run: what it left in cycles, while the pages' reruns collect nothing (postScriptGC off)
            gc.collect()
            with self._lock:
                self._queues[device].pop(0)
                self._lock.notify_all()

    @staticmethod
    def _run(job: Job) -> None:
        if job.stop_event.is_set():
            job.state, job.message = "stopped", "Stopped before it started."
            return
        job.state, job.started = "running", time.monotonic()
        job.began = job.started
        try:
            for event in job.start(job.stop_event):
                job.add(event)
            last = job.events[-1] if job.events else None
            if last is not None and last.final:
                job.message = last.message  # the message first: a reader sees state last
                job.state = last.kind
        except ExplorerError as e:
            job.message, job.state = str(e), "error"
        except Exception as e:  # a bug must not kill the worker that other sessions wait on
            job.message = f"Training failed unexpectedly: {type(e).__name__}: {e}"
            job.state = "error"
            traceback.print_exc()
        if not job.finished:
            job.state = "done"
        job.start = None  # let go of the dataset the closure holds


def poll_seconds(jobs: list[Job]) -> float | None:
    """How often a page showing `jobs` should look again: about as often as a running one's events
    come (within `POLL`), the slowest while they all wait, never once they have all finished."""
    running = [j.gap or POLL[0] for j in jobs if j.state == "running"]
    if running:
        return min(POLL[1], max(POLL[0], min(running)))
    return WAITING_POLL if any(not j.finished for j in jobs) else None


def left_after(spent: float, done: float | None, expected: float | None = None) -> float | None:
    """Seconds left of a job `done` (a fraction of its training) after `spent` seconds, at the pace so
    far; before any progress, `expected` less the time spent (None when there is no estimate)."""
    if done:
        return spent * (1 - done) / done
    return None if expected is None else max(0.0, expected - spent)


def left_words(seconds: float | None) -> str:
    """Time left in words for a progress bar: "about 40 s left", "about 3 min left"; "" when not
    known, or when an estimate has run out (it would only say "0 s")."""
    if seconds is None or seconds < 1:
        return ""
    if seconds < 10:
        return "a few seconds left"
    if seconds < 90:
        return f"about {5 * round(seconds / 5):.0f} s left"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min left"
    return f"about {round(seconds / 1800) / 2:g} h left"


def done_fraction(events: list) -> float | None:
    """How much of a job's training is done, in (0, 1], by its events: the epochs it has trained over
    the epochs it has to train (a measurement's options and a sweep's runs together, less those it will
    not train: cached, resumed, or of a run that failed); None before its first epoch."""
    events = list(events)  # the worker thread appends while a page reads
    trained: dict = {}  # each run's epochs trained here; one trained again after a retry counts once
    for e in events:
        if getattr(e, "kind", None) == "epoch":
            index, epoch = _epoch_key(e)
            trained.setdefault(index, set()).add(epoch)
    done = sum(map(len, trained.values()))
    todo = (_planned(events) or 0) - _not_trained_here(events, trained)
    return min(1.0, done / todo) if done and todo > 0 else None


def _not_trained_here(events: list, trained: dict) -> int:
    """The planned epochs the job does not train: a cached run's, those a run resumed from, and the
    rest of a run that failed (a measurement drops it and goes on)."""
    starts: dict = {}
    for e in events:
        if isinstance(e, Started):
            starts.setdefault(e.index, e.start)  # its first start: a retry starts again from a later epoch
    skipped = sum(len(e.history) for e in events if isinstance(e, Cached))
    skipped += sum(start.get("resumed_from", 0) for start in starts.values())
    for e in events:
        if isinstance(e, Failed) and e.index in starts:
            start = starts[e.index]
            planned = start.get("epochs", 0) + start.get("self_train_epochs", 0)
            skipped += max(0, planned - start.get("resumed_from", 0) - len(trained.get(e.index, ())))
    return skipped


def _planned(events: list) -> int | None:
    """The epochs the job plans, from its first event that says: a sweep's or a measurement's (all of
    its runs'), a fine-tuning's, or a single run's start (both stages)."""
    for e in events:
        if isinstance(e, SweepStarted):
            return e.total_epochs
        if isinstance(e, MeasureStarted):
            return e.epochs * len(e.options)
        if isinstance(e, FinetuneStarted):
            return e.epochs
        if isinstance(e, Started):
            return e.start.get("epochs", 0) + e.start.get("self_train_epochs", 0)
    return None


def _epoch_key(event) -> tuple:
    """Which run's which epoch an epoch event is (a fine-tuning's has no run index)."""
    if isinstance(event.epoch, dict):
        return event.index, event.epoch.get("epoch")
    return None, event.epoch
