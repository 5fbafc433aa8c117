"""Upload folders: each Streamlit session (one browser tab) writes what it uploads into its own.

A folder is ``$EXPLORER_HOME/sessions/<Streamlit session id>/`` (what goes in it:
`explorer.data.uploads`). It holds at most `QUOTA` bytes, is kept while its session is alive or was
used lately, and is removed some time after the session ends (`sweep_ended`). A reload or a new tab
is a new session: `adopt` moves what the owner still uses into the new session's folder.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from explorer.store.home import env_number, subdir

ROOT = "sessions"  # under $EXPLORER_HOME
QUOTA = 2 * 2**30  # bytes one session may keep on disk


def for_session(session_id: str | None = None) -> Path:
    """The upload folder of Streamlit session `session_id`, made if missing (a fresh name for None
    or for anything that is not a session id)."""
    valid = session_id and re.fullmatch(r"[0-9a-fA-F-]{8,64}", session_id)
    path = subdir(ROOT) / (session_id if valid else uuid.uuid4().hex)
    path.mkdir(exist_ok=True)
    return path


def adopt(path: str | None, folder: Path) -> str | None:
    """A path inside another session's upload folder, moved to the same place in `folder`.

    A reload or a new tab starts a new session, and housekeeping removes the old session's folder
    once it has ended. Paths elsewhere, or already in `folder`, are returned as they are."""
    if not path:
        return path
    p, root = Path(path), subdir(ROOT)
    try:
        rel = p.relative_to(root)
    except ValueError:
        return path
    dest = folder / Path(*rel.parts[1:])
    if root / rel.parts[0] == folder or not p.is_dir() or dest.exists():
        return str(dest) if dest.exists() else path
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(p), str(dest))  # the same file system: a rename
    return str(dest)


def touch(folder: Path) -> None:
    """Mark an upload folder as in use now (what `sweep_ended` looks at); made again if swept."""
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)


def sweep_ended(alive: Callable[[str], bool], grace: float | None = None) -> list[Path]:
    """Remove the upload folders of sessions that have ended: `alive(name)` is false and the folder
    was neither used nor seen alive for `grace` seconds (a browser that reconnects within that time
    keeps it). Folders of live sessions are marked as seen."""
    grace = env_number("EXPLORER_SESSION_GRACE_S", 600) if grace is None else grace
    removed = []
    now = time.time()
    for d in subdir(ROOT).iterdir():
        try:
            idle = now - d.stat().st_mtime
        except FileNotFoundError:
            continue
        if not d.is_dir():
            continue
        if alive(d.name):
            # the grace period counts from the last time its session was seen
            os.utime(d)
        elif idle > grace:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def usage(folder: Path) -> int:
    """Bytes an upload folder keeps on disk."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
