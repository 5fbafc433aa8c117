"""The background job queue: one job per device at a time, FIFO, owners see only their own jobs;
a job's state is its last event's."""

import threading
import time

from explorer.errors import ExplorerError
from explorer.execution import jobs
from explorer.execution.events import (
    Cached,
    Done,
    Epoch,
    Failed,
    FinetuneEpoch,
    FinetuneStarted,
    MeasureStarted,
    Retrying,
    Started,
    Stopped,
    SweepEnded,
    SweepStarted,
    Waiting,
)
from explorer.execution.jobs import POLL, WAITING_POLL, Job, JobQueue, done_fraction, left_words, poll_seconds


def wait(cond, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def gated(gate: threading.Event, log: list, name: str):
    def start(stop):
        log.append(f"{name} start")
        yield Started(0, "here", {})
        while not gate.wait(0.01):
            if stop.is_set():
                yield Stopped(0, "here", f"{name} stopped")
                return
        log.append(f"{name} end")
        yield Done(0, "here", {})

    return start


def test_second_job_waits_visibly_then_runs():
    q, gate, log = JobQueue(), threading.Event(), []
    a = q.submit("alice", "A", "cpu", gated(gate, log, "A"))
    b = q.submit("bob", "B", "cpu", gated(threading.Event(), log, "B"))
    wait(lambda: a.state == "running")
    assert b.state == "queued" and q.waiting_ahead(b) == 1 and q.waiting_ahead(a) == 0
    assert [j.label for j in q.jobs("alice")] == ["A"] and [j.label for j in q.jobs("bob")] == ["B"]
    gate.set()
    wait(lambda: a.state == "done" and b.state == "running")
    assert log == ["A start", "A end", "B start"]
    b.stop()
    wait(lambda: b.finished)
    assert b.state == "stopped" and b.message == "B stopped"


def test_devices_do_not_wait_for_each_other():
    q, gate = JobQueue(), threading.Event()
    a = q.submit("x", "cpu job", "cpu", gated(gate, [], "A"))
    c = q.submit("x", "cuda job", "cuda", gated(gate, [], "C"))
    wait(lambda: a.state == "running" and c.state == "running")
    gate.set()
    wait(lambda: a.finished and c.finished)
    assert (a.state, c.state) == ("done", "done") and [e.kind for e in a.events] == ["start", "done"]


def test_a_jobs_state_is_its_last_events_so_a_failed_run_inside_a_sweep_does_not_end_it():
    def one_run(stop):  # a single run: its own final event is the job's
        yield Started(0, "here", {})
        yield Failed(0, "here", "Training diverged in epoch 1.")

    def sweep(stop):  # a sweep: one run fails, the next trains on, the sweep's end is the job's
        yield SweepStarted(2, 0, "plan", 2)
        yield Failed(0, "here", "This run failed.")
        yield Started(1, "here", {})
        yield Epoch(1, "here", {"epoch": 1})
        yield Done(1, "here", {})
        yield SweepEnded(False, 2, 0, 1.0, None, None, None)

    q = JobQueue()
    run, swept = q.submit("x", "run", "cpu", one_run), q.submit("x", "sweep", "cpu", sweep)
    wait(lambda: run.finished and swept.finished)
    assert (run.state, run.message) == ("error", "Training diverged in epoch 1.")
    assert (swept.state, swept.message) == ("done", "") and len(swept.events) == 6


def test_a_failing_job_does_not_kill_the_worker():
    q = JobQueue()

    def bad(stop):
        raise ExplorerError("Batch size too large.")
        yield

    def crash(stop):
        yield Started(0, "here", {})
        raise ZeroDivisionError("boom")

    j1 = q.submit("x", "bad", "cpu", bad)
    j2 = q.submit("x", "crash", "cpu", crash)
    j3 = q.submit("x", "ok", "cpu", gated(_set(), [], "ok"))
    wait(lambda: j3.finished)
    assert (j1.state, j1.message) == ("error", "Batch size too large.")
    assert j2.state == "error" and "ZeroDivisionError: boom" in j2.message
    assert j3.state == "done"


def _set():
    e = threading.Event()
    e.set()
    return e


def test_stop_before_start():
    q, gate = JobQueue(), threading.Event()
    a = q.submit("x", "A", "cpu", gated(gate, [], "A"))
    b = q.submit("y", "B", "cpu", gated(gate, [], "B"))
    b.stop()
    gate.set()
    wait(lambda: b.finished and a.finished)
    assert b.state == "stopped" and b.message == "Stopped before it started." and b.events == []
    assert a.state == "done"  # stopping one session's job never touches another's
    assert q.jobs("y") == [b] and q.jobs("x") == [a]


def stepped(steps: threading.Semaphore, epochs: int):
    """A job that reports its progress one epoch per release of `steps`."""

    def start(stop):
        yield Started(0, "here", {"epochs": epochs, "self_train_epochs": 0, "resumed_from": 0})
        for e in range(1, epochs + 1):
            while not steps.acquire(timeout=0.01):
                if stop.is_set():
                    yield Stopped(0, "here", "stopped")
                    return
            yield Epoch(0, "here", {"epoch": e, "progress": e / epochs})
        yield Done(0, "here", {})

    return start


def test_a_waiting_jobs_estimate_is_what_is_left_ahead_and_drops_as_runs_finish():
    q, steps = JobQueue(), threading.Semaphore(0)
    a = q.submit("alice", "A", "cpu", stepped(steps, 4), expected=40.0)
    b = q.submit("bob", "B", "cpu", stepped(threading.Semaphore(100), 1), expected=30.0)
    c = q.submit("carol", "C", "cpu", stepped(threading.Semaphore(100), 1), expected=20.0)
    wait(lambda: a.state == "running")
    assert q.wait(a) == 0 and q.waiting_ahead(c) == 2
    # A has not reported progress: its expected time (less the moments spent), then B's 30
    assert 60 <= q.wait(c) <= 70
    steps.release(2)
    wait(lambda: len(a.events) == 3)
    time.sleep(0.05)
    left = a.left()
    assert 0 < left < 1  # half done in well under a second: the rest at that pace, not the guess of 40 s
    assert q.wait(c) < 31
    steps.release(2)
    wait(lambda: b.finished)
    wait(lambda: c.finished)
    assert q.wait(c) == 0
    b.expected = None
    assert q.wait(b) == 0  # finished: nothing ahead


def test_pages_look_once_per_epoch_while_a_run_trains_and_seldom_while_all_wait():
    running, queued, done = (Job("o", "x", "cpu", None, state=s) for s in ("running", "queued", "done"))
    assert poll_seconds([done]) is None
    assert poll_seconds([queued, done]) == WAITING_POLL
    assert poll_seconds([running, queued]) == POLL[0]  # no events yet: as often as allowed
    running.gap = 3.0
    assert poll_seconds([running]) == 3.0
    running.gap = 60.0
    assert poll_seconds([running]) == POLL[1]


def test_a_server_up_all_term_remembers_only_the_newest_finished_jobs(monkeypatch):
    monkeypatch.setattr(jobs, "KEEP_FINISHED", 3)
    q, gate = JobQueue(), threading.Event()
    gate.set()
    done = []
    for i in range(6):
        done.append(q.submit("a", f"run {i}", "cpu", gated(gate, [], str(i))))
        wait(lambda: done[-1].finished)
    held = q.submit("a", "waiting", "cpu", gated(threading.Event(), [], "w"))  # unfinished: never forgotten
    assert [j.label for j in q.jobs("a")] == ["run 3", "run 4", "run 5", "waiting"]
    held.stop()


# ------------------------------------------------------- the time left, as every progress bar says it


def start(epochs: int, index: int = 0, resumed_from: int = 0, self_train: int = 0) -> Started:
    return Started(
        index, "here", {"epochs": epochs, "self_train_epochs": self_train, "resumed_from": resumed_from}
    )


def epoch(n: int, index: int = 0) -> Epoch:
    return Epoch(index, "here", {"epoch": n})


def running(spent: float, events: list, expected: float | None = None) -> Job:
    """A job that started `spent` seconds ago and has told `events`."""
    began = time.monotonic() - spent
    return Job(
        "o", "x", "cpu", None, state="running", events=events, expected=expected, started=began, began=began
    )


def test_a_run_half_done_after_10_s_has_about_10_s_left():
    job = running(10.0, [start(4), epoch(1), epoch(2)], expected=100.0)
    assert 9.9 <= job.left() <= 10.1  # the pace so far, not the queue's guess of 100 s
    assert left_words(job.left()) == "about 10 s left"


def test_before_its_first_epoch_a_run_has_the_queues_estimate_less_the_time_spent():
    job = running(20.0, [start(4)], expected=60.0)
    assert 39.9 <= job.left() <= 40.1 and left_words(job.left()) == "about 40 s left"
    assert running(80.0, [start(4)], expected=60.0).left() == 0.0  # the guess ran out: it says nothing
    assert left_words(running(80.0, [start(4)], expected=60.0).left()) == ""
    assert running(5.0, [start(4)]).left() is None  # no estimate (a fine-tuning, a sweep): nothing said
    waiting = Job("o", "x", "cpu", None, expected=60.0)
    assert waiting.left() == 60.0
    waiting.state = "done"
    assert waiting.left() == 0.0


def test_the_time_before_the_first_epoch_is_not_taken_for_the_pace(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    job = Job("o", "x", "cpu", None, state="running", expected=30.0, started=100.0, began=100.0)
    job.add(start(10))
    clock[0] = 110.0  # 10 s starting workers and loading data, then the first epoch ends
    job.add(epoch(1))
    assert job.left() == 20.0  # the queue's estimate less the time spent, not 9 more epochs of 10 s
    clock[0] = 112.0
    job.add(epoch(2))
    assert 15.9 <= job.left() <= 16.1  # 2 s an epoch since the first: 8 more
    unknown = Job("o", "x", "cpu", None, state="running", started=110.0, began=110.0)
    unknown.add(start(10))
    unknown.add(epoch(1))  # 2 s to the first epoch, no estimate: the pace so far is all there is
    assert 17.9 <= unknown.left() <= 18.1


def test_the_time_left_in_words():
    assert [left_words(s) for s in (None, 0.4, 5, 42, 89, 200, 3000, 7200, 9000)] == [
        "",
        "",
        "a few seconds left",
        "about 40 s left",
        "about 90 s left",
        "about 3 min left",
        "about 50 min left",
        "about 2 h left",
        "about 2.5 h left",
    ]


def test_a_resumed_run_counts_only_the_epochs_it_trains_now():
    # resumed from epoch 6 of 10 (2 of them self-training): 2 of the 4 still to train are done
    assert done_fraction([start(8, resumed_from=6, self_train=2), epoch(7), epoch(8)]) == 0.5
    assert done_fraction([start(8)]) is None  # before its first epoch
    assert done_fraction([]) is None


def test_a_measurement_counts_every_options_epochs_and_drops_a_failed_one():
    events = [MeasureStarted(["a", "b", "c"], [], "", 4), start(4, 0), start(4, 1), start(4, 2)]
    events += [epoch(1, 0), epoch(1, 1), epoch(1, 2)]
    assert done_fraction(events) == 3 / 12
    events += [Failed(2, "here", "diverged", 2)]  # option c is dropped: its 3 epochs left never train
    assert done_fraction(events) == 3 / 9


def test_a_sweep_does_not_count_its_cached_runs_and_an_epoch_trained_again_counts_once():
    events = [SweepStarted(3, 1, "plan", 12), Cached(0, "cached", [{}] * 4), start(4, 1), start(4, 2)]
    events += [epoch(1, 1), epoch(2, 1), epoch(1, 2)]
    events += [Retrying(1, "here", "lost: again from epoch 1"), start(4, 1, resumed_from=1), epoch(2, 1)]
    assert done_fraction(events) == 3 / 8


def test_a_fine_tuning_counts_its_epochs():
    started = FinetuneStarted("CPU", "random", 5, {}, 10, 2)
    epoch_1 = FinetuneEpoch(1, 1.0, 0.5, 2.0, 2.0, 100.0)
    assert done_fraction([started]) is None and done_fraction([started, epoch_1]) == 0.2
    job = running(8.0, [started, epoch_1])
    assert 31.9 <= job.left() <= 32.1  # 1 epoch of 5 in 8 s: 4 more at that pace


def test_waiting_for_a_cluster_before_training_is_not_counted_as_training_time():
    began = time.monotonic() - 100
    job = Job("o", "x", "ray", None, state="running", started=began, began=began)
    job.add(Waiting(0, "waiting", "no free GPU"))  # the cluster places it now: its training begins
    job.add(start(2))
    job.add(epoch(1))
    assert job.left() < 1  # not the 100 s it waited
