"""Per-session upload folders: what a browser session drops in is written only under its own folder.

Layout of one session folder (``$EXPLORER_HOME/sessions/<id>/``)::

    dropped/source/<class>/<file>   images dropped with a class name
    dropped/target/<file>           images dropped without one (an unlabelled set)
    unpacked/<zip name>-<n>/        an uploaded zip, extracted safely (`explorer.data.archives`)

A session's folder is removed some time after its browser session ends (`sweep_sessions`).
File and class names from the browser are reduced to a safe basename before use, and every
path is checked to resolve inside the session folder before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from explorer.data.archives import MAX_EXTRACT_BYTES, extract_zip
from explorer.data.domains import Dataset, find_pair, open_dataset
from explorer.errors import DataError
from explorer.store.home import env_number, home, subdir

SLOTS = ("source", "target")
_UNSAFE = re.compile(r"[^\w. -]+")  # \w: letters and digits of any script, and _
SESSION_QUOTA = 2 * 2**30  # bytes one browser session may keep on disk
_UNPACKED = re.compile(
    r"(?P<stem>[^/\s]+?)-[0-9a-f]{12}(?:[0-9a-f]{4})?(?![0-9a-z])"
)  # <zip stem>-<content hash>


def new_session(session_id: str | None = None) -> Path:
    """The folder of one browser session (the app passes Streamlit's session id); made if missing."""
    name = session_id if session_id and re.fullmatch(r"[0-9a-fA-F-]{8,64}", session_id) else uuid.uuid4().hex
    path = subdir("sessions") / name
    path.mkdir(exist_ok=True)
    return path


def adopt(path: str | None, session: Path) -> str | None:
    """A folder inside another browser session's upload folder, moved into `session`'s (the same
    place below it): a reload or a new tab starts a new session, and housekeeping removes the old
    session's folder once it has ended. Paths elsewhere, or already in `session`, are returned as they are."""
    if not path:
        return path
    p, root = Path(path), subdir("sessions")
    try:
        rel = p.relative_to(root)
    except ValueError:
        return path
    dest = session / Path(*rel.parts[1:])
    if root / rel.parts[0] == session or not p.is_dir() or dest.exists():
        return str(dest) if dest.exists() else path
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(p), str(dest))  # the same file system: a rename
    return str(dest)


def touch(session: Path) -> None:
    """Mark a session folder as in use now (what `sweep_sessions` looks at)."""
    session.mkdir(parents=True, exist_ok=True)
    os.utime(session)


def sweep_sessions(alive: Callable[[str], bool], grace: float | None = None) -> list[Path]:
    """Remove the folders of sessions that have ended: `alive(name)` is false and the folder was
    neither used nor seen alive for `grace` seconds (a browser that reconnects within that time
    keeps it). Folders of live sessions are marked as seen."""
    grace = env_number("EXPLORER_SESSION_GRACE_S", 600) if grace is None else grace
    removed = []
    now = time.time()
    for d in subdir("sessions").iterdir():
        try:
            idle = now - d.stat().st_mtime
        except FileNotFoundError:
            continue
        if not d.is_dir():
            continue
        if alive(d.name):
            os.utime(d)  # the grace period counts from the last time its session was seen
        elif idle > grace:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def safe_name(name: str, fallback: str = "file") -> str:
    """A basename of letters, digits (any script), ``. _ -`` and spaces; never empty, hidden, ``.`` or ``..``.
    Undecodable bytes (surrogate escapes) become ``_``."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[:100]
    return base or fallback


def _inside(session: Path, path: Path) -> Path:
    if not path.resolve().is_relative_to(session.resolve()):
        raise DataError(f"Refused to write {path.name}: outside this session's folder.")
    return path


def _free_path(folder: Path, name: str) -> Path:
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    path, n = folder / name, 1
    while path.exists():
        path = folder / f"{stem}-{n}{dot}{ext}"
        n += 1
    return path


def add_images(session: Path, slot: str, class_name: str | None, files: Iterable[tuple[str, bytes]]) -> int:
    """Save dropped image files into the `slot` domain, in class `class_name` (None: unlabelled)."""
    if slot not in SLOTS:
        raise DataError(f"Unknown domain {slot!r}; choose one of {', '.join(SLOTS)}.")
    folder = session / "dropped" / slot
    if class_name and class_name.strip():
        folder = folder / safe_name(class_name.strip(), "class")
    folder = _inside(session, folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"An unlabelled image is already called {folder.name!r}; choose another class name.")
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, data in files:
        _inside(session, _free_path(folder, safe_name(name))).write_bytes(data)
        count += 1
    return count


def dropped_folder(session: Path, slot: str) -> Path | None:
    folder = session / "dropped" / slot
    return folder if folder.is_dir() and any(folder.iterdir()) else None


def clear_dropped(session: Path) -> None:
    shutil.rmtree(session / "dropped", ignore_errors=True)


def usage(session: Path) -> int:
    """Bytes this session keeps on disk."""
    return sum(p.stat().st_size for p in session.rglob("*") if p.is_file() and not p.is_symlink())


def add_zip(session: Path, name: str, data: bytes) -> Path:
    """Extract an uploaded zip into the session folder (once per content) and return the folder.

    What one session may extract in all is capped at `SESSION_QUOTA`, counting what it already has."""
    unpacked = _inside(session, session / "unpacked")
    unpacked.mkdir(exist_ok=True)
    stem = safe_name(name, "upload").removesuffix(".zip") or "upload"
    dest = unpacked / f"{stem}-{hashlib.blake2b(data, digest_size=6).hexdigest()}"
    if dest.is_dir():
        return dest  # the same upload opened again
    room = SESSION_QUOTA - usage(session) - len(data)
    if room <= 0:
        raise DataError(
            "This session's upload space is full (2 GiB); reload the page to start a new session."
        )
    with tempfile.NamedTemporaryFile(dir=session, suffix=".zip") as tmp:
        tmp.write(data)
        tmp.flush()
        return extract_zip(tmp.name, dest, label=safe_name(name), max_bytes=min(MAX_EXTRACT_BYTES, room))


def open_zips(
    session: Path, source: tuple[str, bytes], target: tuple[str, bytes] | None, size: int
) -> tuple[Dataset, dict]:
    """The dataset in one uploaded zip (both domains), or in two (source, target), with its recipe."""
    src_dir = add_zip(session, *source)
    tgt_dir = add_zip(session, *target) if target else None
    name = safe_name(source[0]) + (f" → {safe_name(target[0])}" if target else "")
    if tgt_dir is None and find_pair(src_dir) is None:
        raise DataError(
            f"{safe_name(source[0])} holds one domain, not two: put train_data/ and test_data/ (or source/ and target/) in it, "
            "or upload the target as a second zip."
        )
    recipe = {
        "kind": "folders",
        "what": "uploaded zip",
        "source": str(src_dir),
        "target": tgt_dir and str(tgt_dir),
        "name": name,
    }
    return open_dataset(src_dir, tgt_dir, size=size, name=name), recipe | {"size": size}


def plain(message: str) -> str:
    """`message` as a browser user may read it: no server path, session id or internal folder name.
    A path in an uploaded zip's folder becomes the zip's name (``.../sessions/<id>/unpacked/real-<hash>/x``
    -> ``real.zip/x``), a dropped domain's folder ``the dropped source images``."""
    for base in {home(), home().resolve()}:
        sessions = re.escape(str(base / "sessions"))
        message = re.sub(rf"{sessions}/[\w-]+/dropped/(source|target)", r"the dropped \1 images", message)
        message = re.sub(rf"(?:{sessions}/[\w-]+|{re.escape(str(base))})/unpacked/", "", message)
        message = re.sub(rf"{sessions}(?:/[\w-]+)?", "this session's upload folder", message)
        message = message.replace(str(base), "the app's folder")
    return _UNPACKED.sub(r"\g<stem>.zip", message)


def dropped_counts(session: Path) -> dict[str, dict[str, int]]:
    """Images dropped so far: ``{slot: {class or '(unlabelled)': count}}``."""
    counts: dict[str, dict[str, int]] = {}
    for slot in SLOTS:
        folder = session / "dropped" / slot
        if not folder.is_dir():
            continue
        per = {}
        for entry in sorted(folder.iterdir()):
            key, n = (entry.name, sum(1 for _ in entry.iterdir())) if entry.is_dir() else ("(unlabelled)", 1)
            per[key] = per.get(key, 0) + n
        counts[slot] = per
    return counts
