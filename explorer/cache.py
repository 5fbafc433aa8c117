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
(`explorer.checkpoints.save`). A process killed in the middle of a write leaves the temporary
file behind, never a half checkpoint under a real name; `sweep` deletes such leftovers in runs
that no live process holds.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.home import env_number, subdir
from explorer.runs import owners

DEFAULT_CAP_MB = 2048
LOCK = ".lock"


def cap_bytes() -> int:
    return int(env_number("EXPLORER_CACHE_MB", DEFAULT_CAP_MB) * 2**20)


@contextmanager
def training_lock(run_dir: Path):
    """Held while a run trains: eviction and clearing leave it alone, and a second trainer of the
    same run (another process or another session) is refused instead of writing over it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExplorerError("This run is being trained right now (by another session or process); "
                                "wait for it to finish, or change the seed to train a separate run.") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def busy(run_dir: Path) -> bool:
    """True while some process trains this run (holds its lock)."""
    lock = run_dir / LOCK
    if not lock.is_file():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass(frozen=True)
class Entry:
    path: Path
    bytes: int
    written: float  # the newest modification time inside it

    @property
    def run_id(self) -> str:
        return self.path.name if self.path.is_dir() else self.path.name.split("-", 1)[0]


def _entry(path: Path) -> Entry:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    stats = [p.stat() for p in files]
    return Entry(path, sum(s.st_size for s in stats), max([s.st_mtime for s in stats], default=path.stat().st_mtime))


def entries() -> list[Entry]:
    """Everything in the cache, oldest first."""
    found = []
    for root in (subdir("runs"), subdir("embeddings")):
        for p in root.iterdir():
            try:
                found.append(_entry(p))
            except FileNotFoundError:  # removed while we looked
                continue
    return sorted(found, key=lambda e: e.written)


def usage() -> int:
    return sum(e.bytes for e in entries())


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def enforce(cap: int | None = None) -> list[Path]:
    """Remove the least recently written entries until the cache fits under `cap` bytes. Busy runs
    (and their embeddings) stay. Returns what was removed."""
    cap = cap_bytes() if cap is None else cap
    found = entries()
    total = sum(e.bytes for e in found)
    runs_root = subdir("runs")
    held = {e.run_id for e in found if e.path.parent == runs_root and busy(e.path)}
    removed = []
    for e in found:
        if total <= cap:
            break
        if e.run_id in held:
            continue
        _remove(e.path)
        total -= e.bytes
        removed.append(e.path)
    return removed


def clear(owner: str) -> tuple[int, int]:
    """Remove `owner`'s runs and their embeddings. A run another session also started loses only
    this owner; a run being trained stays. Returns (runs removed, runs kept because busy)."""
    runs_root, removed, kept = subdir("runs"), 0, 0
    for d in runs_root.iterdir():
        if not d.is_dir() or owner not in owners(d):
            continue
        if busy(d):
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
        if d.is_dir() and not busy(d):
            for tmp in d.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    for tmp in subdir("embeddings").glob(".*.npz"):
        if time.time() - tmp.stat().st_mtime > 3600:  # an embedding write cut short long ago
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
