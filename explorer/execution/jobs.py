"""Background training jobs: one worker thread per device, a FIFO queue, many owners.

The app's pages must never train in Streamlit's script thread, and two browser sessions must not
train on the same GPU at once. `JobQueue.submit` puts a job in line; one worker thread per device
type ("cpu", "cuda") takes jobs in order and iterates their event stream (the typed events of
`events.py`), storing every event on the job. Pages poll `Job.snapshot()`; `Job.stop()` asks the
engine to end within one step. A job's state when its stream ends is its last event's: a run's (a
sweep's, a fine-tuning's) final event, or done.

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
from explorer.execution.events import Epoch

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

    def stop(self) -> None:
        self.stop_event.set()

    def add(self, event) -> None:
        """Store the next event (the worker thread), and how long it took to come."""
        now = time.monotonic()
        since = now - (self.last_event or self.started or now)
        self.gap = since if self.gap is None else 0.7 * self.gap + 0.3 * since
        self.last_event = now
        self.events.append(event)

    def left(self) -> float | None:
        """About how many seconds until it ends: its expected time, less what its progress says is done."""
        if self.finished:
            return 0.0
        if self.state != "running" or self.expected is None:
            return self.expected
        done = _progress(self.events[-1]) if self.events else None
        spent = time.monotonic() - (self.started or time.monotonic())
        return spent * (1 - done) / done if done else max(0.0, self.expected - spent)

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


def _progress(event) -> float | None:
    """How far along a job is by its latest event, in [0, 1], when it is a run's epoch."""
    p = event.epoch.get("progress") if isinstance(event, Epoch) else None
    return p if isinstance(p, (int, float)) and 0 < p <= 1 else None
