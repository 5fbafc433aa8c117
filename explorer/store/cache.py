"""The checkpoint cache on disk: a size cap, oldest-first eviction, clearing, and crash leftovers.

What it holds, under ``$EXPLORER_HOME``::

    runs/<run id>/          one training run: config.json, metrics.jsonl, last.pt, epoch_NNNN.pt, owners
    embeddings/<run id>-<key>.npz   Feature Space pictures of that run's checkpoints

Every entry counts against a cap of ``$EXPLORER_CACHE_MB`` megabytes (default 2048). `enforce`
removes whole entries, least recently written first, until the rest fit; a run being trained is
never removed. A run is *busy* while a process holds an exclusive ``flock`` on its ``.lock``
file: the kernel drops that lock when the process ends, however it ends, so a crashed app leaves
no run stuck as busy.

Checkpoints are written to ``.<name>.<random>.tmp`` and renamed into place
(`explorer.store.checkpoints.save`). A process killed in the middle of a write leaves the temporary
file behind, never a half checkpoint under a real name; `sweep` deletes such leftovers in runs
that no live process holds.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.store.home import env_number, subdir
from explorer.store.runs import owners

DEFAULT_CAP_MB = 2048
LOCK = ".lock"
LOCK_WAIT = 5.0  # seconds a trainer waits for a run's lock before it says the run is taken
ENFORCE_EVERY = 30.0  # seconds between checks of the cap while a run trains (and at its first and last epoch)


def cap_bytes() -> int:
    return int(env_number("EXPLORER_CACHE_MB", DEFAULT_CAP_MB) * 2**20)


def _lock(run_dir: Path) -> int | None:
    """An exclusive lock on the run's current ``.lock`` file, without waiting: the descriptor, or
    None when someone holds it. Makes the folder when it is missing (it may just have been evicted)."""
    lock = run_dir / LOCK
    for _ in range(5):
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder went between mkdir and open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a lock file that was removed meanwhile: take the new one
    raise ExplorerError(f"Could not lock the run folder {run_dir.name}: it keeps being removed.")


@contextmanager
def training_lock(run_dir: Path, wait: float | None = None):
    """Held while a run trains: eviction, clearing and sweeping leave it alone, and a second trainer
    of the same run (another process or another session) is refused instead of writing over it.
    Waits up to `wait` seconds: housekeeping holds a run's lock for moments only."""
    deadline = time.monotonic() + (LOCK_WAIT if wait is None else wait)
    while (fd := _lock(run_dir)) is None:
        if time.monotonic() > deadline:
            raise ExplorerError(
                "This run is being trained right now (by another session or process); "
                "wait for it to finish, or change the seed to train a separate run."
            )
        time.sleep(0.01)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def run_dir(run_id: str) -> Path:
    """Where the app keeps the run with this id."""
    return subdir("runs") / run_id


def guarded(
    folders: Path | list[Path], events: Iterator, kind: Callable[[object], str] = lambda e: e["kind"]
) -> Iterator:
    """Training runs' events, trained under the cache's rules: the runs' locks (one folder, or all of
    a group trained together) are held from the first event to the last, and the cap is enforced
    after the first epoch, at the end, and at most every `ENFORCE_EVERY` seconds between (a run
    being trained, being locked, is never evicted). `kind`: an event's kind."""
    with ExitStack() as held:
        for folder in [folders] if isinstance(folders, Path) else folders:
            held.enter_context(training_lock(folder))
        checked = None
        for event in events:
            now, k = time.monotonic(), kind(event)
            if k != "start" and (
                checked is None or now - checked > ENFORCE_EVERY or k in ("done", "stopped", "error")
            ):
                enforce()
                checked = now
            yield event


@contextmanager
def _idle(run_dir: Path):
    """Yields True, holding the run's lock, when no one trains it; False when someone does."""
    try:
        fd = _lock(run_dir) if run_dir.is_dir() else None
    except (OSError, ExplorerError):
        fd = None
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def busy(run_dir: Path) -> bool:
    """True while some process trains this run (holds its lock)."""
    if not (run_dir / LOCK).is_file():
        return False
    with _idle(run_dir) as idle:
        return not idle


@dataclass(frozen=True)
class Entry:
    path: Path
    bytes: int
    written: float  # the newest modification time inside it

    @property
    def run_id(self) -> str:
        return self.path.name if self.path.is_dir() else self.path.name.split("-", 1)[0]


def _size_and_time(path: str) -> tuple[int, float]:
    """Bytes under a folder (or of a file) and its newest modification time, via os.scandir."""
    st = os.stat(path)
    if not os.path.isdir(path):
        return st.st_size, st.st_mtime
    total, newest = 0, 0.0
    with os.scandir(path) as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                size, when = _size_and_time(e.path)
            elif e.is_file(follow_symlinks=False):
                s = e.stat(follow_symlinks=False)
                size, when = s.st_size, s.st_mtime
            else:
                continue
            total, newest = total + size, max(newest, when)
    return total, newest or st.st_mtime  # an empty folder: when it was made


def _entry(path: Path) -> Entry:
    return Entry(path, *_size_and_time(str(path)))


def entries() -> list[Entry]:
    """Everything in the cache, oldest first."""
    found = []
    for root in (subdir("runs"), subdir("embeddings")):
        for p in root.iterdir():
            if p.name.startswith("."):  # a write in progress (explorer.analysis.embedding)
                continue
            try:
                found.append(_entry(p))
            except FileNotFoundError:  # removed while we looked
                continue
    return sorted(found, key=lambda e: e.written)


def usage() -> int:
    return sum(e.bytes for e in entries())


def enforce(cap: int | None = None) -> list[Path]:
    """Remove the least recently written entries until the cache fits under `cap` bytes. Busy runs
    (and their embeddings) stay. Returns what was removed."""
    cap = cap_bytes() if cap is None else cap
    found = entries()
    total = sum(e.bytes for e in found)
    if total <= cap:
        return []
    runs_root = subdir("runs")
    held = {e.run_id for e in found if e.path.parent == runs_root and busy(e.path)}
    removed = []
    for e in found:
        if total <= cap:
            break
        if e.run_id in held:
            continue
        if e.path.parent == runs_root:
            with _idle(e.path) as idle:  # a run that started training since we looked stays
                if not idle:
                    continue
                shutil.rmtree(e.path, ignore_errors=True)
        else:
            e.path.unlink(missing_ok=True)
        total -= e.bytes
        removed.append(e.path)
    return removed


def owned(owner: str) -> list[Path]:
    """The run folders `owner` started, on any dataset."""
    return [d for d in subdir("runs").iterdir() if d.is_dir() and owner in owners(d)]


def clear(owner: str) -> tuple[int, int]:
    """Remove `owner`'s runs and their embeddings. A run another owner also started loses only
    this owner; a run being trained stays. Returns (runs removed, runs kept because busy)."""
    removed, kept = 0, 0
    for d in owned(owner):
        with _idle(d) as idle:
            if not idle:
                kept += 1
                continue
            others = owners(d) - {owner}
            if others:
                (d / "owners").write_text("".join(o + "\n" for o in sorted(others)))
                continue
            shutil.rmtree(d, ignore_errors=True)
        for f in subdir("embeddings").glob(f"{d.name}-*.npz"):
            f.unlink(missing_ok=True)
        removed += 1
    return removed, kept


def sweep() -> list[Path]:
    """Delete the temporary files of checkpoint writes that never finished (their process died)."""
    removed = []
    for d in subdir("runs").iterdir():
        with _idle(d) as idle:  # holding the lock: no trainer can start writing meanwhile
            if idle:
                for tmp in d.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)
                    removed.append(tmp)
    for tmp in subdir("embeddings").glob(".*.npz"):
        try:
            stale = time.time() - tmp.stat().st_mtime > 3600  # an embedding write cut short long ago
        except FileNotFoundError:
            continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
