"""The checkpoint cache: size cap with oldest-first eviction, clearing one owner's runs, the
training lock, and what a process killed in the middle of a checkpoint write leaves behind."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from explorer.dann.config import TrainConfig
from explorer.dann.trainer import Trainer
from explorer.errors import ExplorerError
from explorer.store import cache, checkpoints, runs
from explorer.store.home import subdir

SMALL = dict(width=0.125, image_size=16, batch_size=32, canny=(100, 200))


def cached_trainer(cfg, data):
    """A trainer whose events come as the app trains: in the cache, under the run's lock and the cap."""
    trainer = Trainer(cfg, data, cache.run_dir(cfg.run_id(data.fingerprint, "cpu")))
    return trainer, cache.guarded(trainer.dir, trainer.events())


def cached(cfg, data):
    return cached_trainer(cfg, data)[1]


def cached_train(cfg, data):
    trainer, events = cached_trainer(cfg, data)
    return trainer, list(events)


def fake_run(name: str, size: int, age: float, owner: str = "a" * 32):
    d = subdir("runs") / name
    d.mkdir()
    (d / "last.pt").write_bytes(b"x" * size)
    runs.add_owner(d, owner)
    t = time.time() - age
    for p in d.iterdir():
        os.utime(p, (t, t))
    return d


def test_enforce_removes_oldest_first_until_under_the_cap():
    old, mid, new = fake_run("old", 1000, 300), fake_run("mid", 1000, 200), fake_run("new", 1000, 100)
    emb = subdir("embeddings") / "old-0123.npz"
    emb.write_bytes(b"y" * 500)
    os.utime(emb, (time.time() - 250,) * 2)
    assert cache.usage() == 3500 + 3 * len("a" * 32 + "\n")
    removed = cache.enforce(cap=2100)
    assert removed == [old, emb]  # the oldest two, in age order, and no more than needed
    assert not old.exists() and not emb.exists()
    assert mid.is_dir() and new.is_dir() and (mid / "last.pt").read_bytes() == b"x" * 1000
    assert [e.path for e in cache.entries()] == [mid, new]
    assert cache.usage() == 2000 + 2 * len("a" * 32 + "\n") <= 2100
    assert cache.enforce(cap=10**9) == [] and cache.enforce(cap=2100) == []


def test_enforce_and_clear_leave_a_run_that_is_training(explorer_home):
    busy_run, idle = fake_run("busy", 5000, 500), fake_run("idle", 10, 400)
    picture = subdir("embeddings") / "busy-0123.npz"  # the busy run's embedding, older than anything
    picture.write_bytes(b"y" * 100)
    os.utime(picture, (time.time() - 600,) * 2)
    with cache.training_lock(busy_run):
        assert cache.busy(busy_run) and not cache.busy(idle)
        assert cache.enforce(cap=0) == [idle] and not idle.exists() and picture.is_file()
        assert cache.clear("a" * 32) == (0, 1)
        assert (busy_run / "last.pt").read_bytes() == b"x" * 5000 and runs.owners(busy_run) == {"a" * 32}
    assert not cache.busy(busy_run)
    assert cache.clear("a" * 32) == (1, 0) and not busy_run.exists() and not picture.exists()


def test_clear_removes_only_this_owners_runs_and_their_embeddings():
    me, other = "a" * 32, "b" * 32
    mine, theirs, shared = (
        fake_run("mine", 10, 1, me),
        fake_run("theirs", 10, 1, other),
        fake_run("shared", 10, 1, me),
    )
    runs.add_owner(shared, other)
    (subdir("embeddings") / "mine-1.npz").write_bytes(b"z")
    (subdir("embeddings") / "theirs-1.npz").write_bytes(b"z")
    assert cache.clear(me) == (1, 0)
    assert not mine.exists() and theirs.is_dir() and shared.is_dir()
    assert runs.owners(shared) == {other}
    assert sorted(p.name for p in subdir("embeddings").iterdir()) == ["theirs-1.npz"]


def test_a_second_trainer_of_the_same_run_is_refused(monkeypatch):
    from explorer.data.builtin import load_builtin

    monkeypatch.setattr(cache, "LOCK_WAIT", 0.3)
    data = load_builtin(16)
    cfg = TrainConfig(epochs=1, **SMALL)
    first_trainer, first = cached_trainer(cfg, data)
    assert next(first)["kind"] == "start"  # holds the run's lock from here on
    assert cache.busy(first_trainer.dir)
    second = cached(cfg, data)
    t0 = time.monotonic()
    with pytest.raises(ExplorerError, match="being trained right now"):
        next(second)
    assert time.monotonic() - t0 >= 0.3  # it waited LOCK_WAIT for the lock before refusing
    assert cache.busy(first_trainer.dir)  # the refused trainer did not take or break the first one's lock
    first.close()  # the lock goes with the generator
    assert not cache.busy(first_trainer.dir)
    trainer, events = cached_train(cfg, data)
    assert trainer.dir == first_trainer.dir and events[-1]["kind"] == "done" and events[-1]["epochs"] == 1


def test_cap_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_MB", "1.5")
    assert cache.cap_bytes() == int(1.5 * 2**20)
    monkeypatch.setenv("EXPLORER_CACHE_MB", "lots")
    assert cache.cap_bytes() == cache.DEFAULT_CAP_MB * 2**20


def test_training_evicts_older_runs_beyond_the_cap(monkeypatch):
    from explorer.data.builtin import load_builtin

    old = fake_run("old", 10_000, 1000)
    monkeypatch.setenv("EXPLORER_CACHE_MB", "0.000001")
    trainer, events = cached_train(TrainConfig(epochs=1, **SMALL), load_builtin(16))
    assert events[-1]["kind"] == "done"
    assert not old.exists()
    # a training run is never its own victim: all its files stay, though it alone is over the cap
    assert {"config.json", "metrics.jsonl", "epoch_0000.pt", "epoch_0001.pt", "last.pt"} <= {
        p.name for p in trainer.dir.iterdir()
    }
    assert [e.path for e in cache.entries()] == [trainer.dir] and cache.usage() > cache.cap_bytes()


KILLED_MID_WRITE = textwrap.dedent("""
    import os, signal, torch
    from explorer.data.builtin import load_builtin
    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.store import cache

    calls = 0
    real_save = torch.save
    def save(obj, f, *a, **k):
        global calls
        # the temporary file is named after the checkpoint it becomes
        calls += "{name}." in str(getattr(f, "name", f))
        if calls == {nth}:  # write half of this checkpoint, then die like `kill -9`
            import io
            buf = io.BytesIO(); real_save(obj, buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2]); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *a, **k)
    torch.save = save
    cfg = TrainConfig(epochs=3, width=0.125, image_size=16, batch_size=32, canny=(100, 200))
    data = load_builtin(16)
    run = cache.run_dir(cfg.run_id(data.fingerprint, "cpu"))
    list(cache.guarded(run, Trainer(cfg, data, run).events()))
""")


# the first checkpoint (epoch 0's last.pt); epoch 1's marked copy; epoch 2's last.pt
@pytest.mark.parametrize("kill_at", [("last.pt", 1), ("epoch_0001.pt", 1), ("last.pt", 3)])
def test_killed_in_the_middle_of_a_checkpoint_write_leaves_only_whole_checkpoints(kill_at, explorer_home):
    env = dict(os.environ, EXPLORER_HOME=str(explorer_home))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_MID_WRITE.replace("{name}", kill_at[0]).replace("{nth}", str(kill_at[1])),
        ],
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    (run_dir,) = subdir("runs").iterdir()
    leftovers = sorted(run_dir.glob(".*.tmp"))
    assert leftovers, "the killed write left its temporary file"
    assert not cache.busy(run_dir)  # the lock died with the process
    # After the restart: the leftovers go (those and nothing else), and every checkpoint under a real
    # name loads.
    kept = sorted(p.name for p in run_dir.iterdir() if p not in leftovers)
    assert sorted(cache.sweep()) == leftovers
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == kept and not [n for n in names if n.endswith(".tmp")]
    pts = sorted(run_dir.glob("*.pt"))
    for p in pts:
        checkpoints.load(p)
    expected = {
        ("last.pt", 1): [],
        ("epoch_0001.pt", 1): ["epoch_0000.pt", "last.pt"],
        ("last.pt", 3): ["epoch_0000.pt", "epoch_0001.pt", "last.pt"],
    }
    assert [p.name for p in pts if not p.name.startswith("best-")] == expected[kill_at]
    # ... and training resumes from the last whole checkpoint.
    from explorer.data.builtin import load_builtin

    trainer, events = cached_train(TrainConfig(epochs=3, **SMALL), load_builtin(16))
    assert events[0]["resumed_from"] == (0 if kill_at == ("last.pt", 1) else 1)
    assert events[-1]["kind"] == "done" and events[-1]["epochs"] == 3


def test_unreadable_caps_fall_back_to_the_default(monkeypatch):
    for raw in ("inf", "nan", "-5"):
        monkeypatch.setenv("EXPLORER_CACHE_MB", raw)
        assert cache.cap_bytes() == cache.DEFAULT_CAP_MB * 2**20


def test_a_run_locked_after_the_scan_is_not_evicted(monkeypatch):
    """enforce() decides who is busy first and deletes afterwards: a run that starts training in
    between must survive, so each deletion takes the run's lock itself."""
    run = fake_run("starting", 5000, 500)
    tmp = run / ".epoch_0001.pt.a1b2c3.tmp"  # a checkpoint its trainer is writing right now
    tmp.write_bytes(b"half")
    monkeypatch.setattr(cache, "busy", lambda d: False)  # as if the scan happened just before the lock
    with cache.training_lock(run):
        assert cache.enforce(cap=0) == [] and (run / "last.pt").read_bytes() == b"x" * 5000
        assert cache.clear("a" * 32) == (0, 1) and runs.owners(run) == {"a" * 32}
        assert cache.sweep() == [] and tmp.is_file()
    assert cache.sweep() == [tmp] and not tmp.exists()  # once no one holds the run, it is a leftover
    assert cache.enforce(cap=0) == [run] and not run.exists()


def test_probing_a_lock_never_makes_a_trainer_fail():
    """busy() probes by taking the lock for a moment; a trainer starting then waits, not fails."""
    import threading

    run = fake_run("probed", 10, 1)
    stop, probes, errors = threading.Event(), [], []

    def probe():
        while not stop.is_set():
            try:
                probes.append(cache.busy(run))
            except Exception as e:  # noqa: BLE001 - reported below, a thread's exception would pass unseen
                errors.append(e)

    t = threading.Thread(target=probe)
    t.start()
    taken = 0
    try:
        while taken < 200 or not probes:
            with cache.training_lock(run):
                taken += 1
    finally:
        stop.set()
        t.join()
    assert taken >= 200 and probes and errors == []
    # The race above hits a probe's moment only now and then; here one lasts 0.3 s, every time.
    held = threading.Event()

    def hold():
        with cache.training_lock(run):
            held.set()
            time.sleep(0.3)

    h = threading.Thread(target=hold)
    h.start()
    held.wait()
    t0 = time.monotonic()
    with cache.training_lock(run):  # waits for the moment to pass instead of refusing
        waited = time.monotonic() - t0
    h.join()
    assert 0.2 <= waited < cache.LOCK_WAIT
    assert not cache.busy(run) and (run / cache.LOCK).is_file()


def test_writes_in_progress_are_not_cache_entries():
    fake_run("r", 10, 1)
    (subdir("embeddings") / ".a1b2c3d4.npz").write_bytes(b"half")
    assert [e.path.name for e in cache.entries()] == ["r"]


def test_a_removed_checkpoint_gets_a_message_on_feature_space():
    from explorer.analysis.embedding import embedding
    from explorer.data.builtin import load_builtin

    with pytest.raises(ExplorerError, match="no longer in the checkpoint cache"):
        embedding(subdir("runs") / "gone" / "epoch_0000.pt", load_builtin(16), 10)
