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
    assert removed == [old, emb]
    assert mid.is_dir() and new.is_dir()
    assert cache.enforce(cap=10**9) == []


def test_enforce_and_clear_leave_a_run_that_is_training(explorer_home):
    busy_run, idle = fake_run("busy", 5000, 500), fake_run("idle", 10, 400)
    with cache.training_lock(busy_run):
        assert cache.busy(busy_run) and not cache.busy(idle)
        assert cache.enforce(cap=0) == [idle]
        assert cache.clear("a" * 32) == (0, 1)
        assert busy_run.is_dir()
    assert not cache.busy(busy_run)
    assert cache.clear("a" * 32) == (1, 0) and not busy_run.exists()


def test_clear_removes_only_this_owners_runs_and_their_embeddings():
    me, other = "a" * 32, "b" * 32
    mine, theirs, shared = fake_run("mine", 10, 1, me), fake_run("theirs", 10, 1, other), fake_run("shared", 10, 1, me)
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
    first = cached(cfg, data)
    next(first)  # holds the run's lock from here on
    with pytest.raises(ExplorerError, match="being trained right now"):
        next(cached(cfg, data))
    first.close()  # the lock goes with the generator
    trainer, events = cached_train(cfg, data)
    assert events[-1]["kind"] == "done"


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
    assert not old.exists() and (trainer.dir / "last.pt").is_file()  # a training run is never its own victim


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
        calls += "{name}." in str(getattr(f, "name", f))  # the temporary file is named after the checkpoint it becomes
        if calls == {nth}:  # write half of this checkpoint, then die like `kill -9`
            import io
            buf = io.BytesIO(); real_save(obj, buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2]); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *a, **k)
    torch.save = save
    cfg, data = TrainConfig(epochs=3, width=0.125, image_size=16, batch_size=32, canny=(100, 200)), load_builtin(16)
    run = cache.run_dir(cfg.run_id(data.fingerprint, "cpu"))
    list(cache.guarded(run, Trainer(cfg, data, run).events()))
""")


# the first checkpoint (epoch 0's last.pt); epoch 1's marked copy; epoch 2's last.pt
@pytest.mark.parametrize("kill_at", [("last.pt", 1), ("epoch_0001.pt", 1), ("last.pt", 3)])
def test_killed_in_the_middle_of_a_checkpoint_write_leaves_only_whole_checkpoints(kill_at, explorer_home):
    env = dict(os.environ, EXPLORER_HOME=str(explorer_home))
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE.replace("{name}", kill_at[0]).replace("{nth}", str(kill_at[1]))],
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    (run_dir,) = subdir("runs").iterdir()
    assert list(run_dir.glob(".*.tmp")), "the killed write left its temporary file"
    assert not cache.busy(run_dir)  # the lock died with the process
    # After the restart: the leftovers go, and every checkpoint under a real name loads.
    assert cache.sweep()
    names = sorted(p.name for p in run_dir.iterdir())
    assert not [n for n in names if n.endswith(".tmp")]
    pts = sorted(run_dir.glob("*.pt"))
    for p in pts:
        checkpoints.load(p)
    expected = {("last.pt", 1): [], ("epoch_0001.pt", 1): ["epoch_0000.pt", "last.pt"],
                ("last.pt", 3): ["epoch_0000.pt", "epoch_0001.pt", "last.pt"]}  # fmt: skip
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
    monkeypatch.setattr(cache, "busy", lambda d: False)  # as if the scan happened just before the lock
    with cache.training_lock(run):
        assert cache.enforce(cap=0) == [] and (run / "last.pt").is_file()
        assert cache.clear("a" * 32) == (0, 1) and cache.sweep() == []


def test_probing_a_lock_never_makes_a_trainer_fail():
    """busy() probes by taking the lock for a moment; a trainer starting then waits, not fails."""
    import threading

    run = fake_run("probed", 10, 1)
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            cache.busy(run)

    t = threading.Thread(target=probe)
    t.start()
    try:
        for _ in range(200):
            with cache.training_lock(run):
                pass
    finally:
        stop.set()
        t.join()


def test_writes_in_progress_are_not_cache_entries():
    fake_run("r", 10, 1)
    (subdir("embeddings") / ".a1b2c3d4.npz").write_bytes(b"half")
    assert [e.path.name for e in cache.entries()] == ["r"]


def test_a_removed_checkpoint_gets_a_message_on_feature_space():
    from explorer.analysis.embedding import embedding
    from explorer.data.builtin import load_builtin

    with pytest.raises(ExplorerError, match="no longer in the checkpoint cache"):
        embedding(subdir("runs") / "gone" / "epoch_0000.pt", load_builtin(16), 10)
