"""The background job queue: one job per device at a time, FIFO, owners see only their own jobs;
a job's state is its last event's."""

import threading
import time

from explorer.errors import ExplorerError
from explorer.execution import jobs
from explorer.execution.events import Done, Epoch, Failed, Started, Stopped, SweepEnded, SweepStarted
from explorer.execution.jobs import POLL, WAITING_POLL, Job, JobQueue, poll_seconds


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
    steps.release()
    wait(lambda: a.events)
    time.sleep(0.05)
    left = a.left()
    assert 0 < left < 1  # a quarter done in well under a second: the rest at that pace, not the guess of 40 s
    assert q.wait(c) < 31
    steps.release(3)
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
