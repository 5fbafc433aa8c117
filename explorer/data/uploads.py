"""What a browser uploads, written only inside its session's upload folder and opened as a dataset.

Layout of one upload folder (`explorer.store.upload_folders`)::

    dropped/source/<class>/<file>   images dropped with a class name
    dropped/target/<file>           images dropped without one (an unlabelled set)
    unpacked/<zip name>-<hash>/     an uploaded zip, extracted safely (`explorer.data.archives`)

File and class names from the browser are reduced to a safe basename before use, and every path is
checked to resolve inside the upload folder before anything is written.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from explorer.data.archives import MAX_EXTRACT_BYTES, extract_zip
from explorer.data.domains import Dataset, find_pair, open_dataset
from explorer.errors import DataError
from explorer.store import upload_folders
from explorer.store.home import home

SLOTS = ("source", "target")
# \w: letters and digits of any script, and _
_UNSAFE = re.compile(r"[^\w. -]+")
# <zip stem>-<content hash>
_UNPACKED = re.compile(r"(?P<stem>[^/\s]+?)-[0-9a-f]{12}(?:[0-9a-f]{4})?(?![0-9a-z])")


def safe_name(name: str, fallback: str = "file") -> str:
    """A basename of letters, digits (any script), ``. _ -`` and spaces; never empty, hidden, ``.``
    or ``..``. Undecodable bytes (surrogate escapes) become ``_``."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[:100]
    return base or fallback


def _inside(folder: Path, path: Path) -> Path:
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DataError(f"Refused to write {path.name}: outside this session's folder.")
    return path


def _free_path(folder: Path, name: str) -> Path:
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    path, n = folder / name, 1
    while path.exists():
        path = folder / f"{stem}-{n}{dot}{ext}"
        n += 1
    return path


def add_images(folder: Path, slot: str, class_name: str | None, files: Iterable[tuple[str, bytes]]) -> int:
    """Save dropped image files into the `slot` domain, in class `class_name` (None: unlabelled);
    returns how many were saved."""
    if slot not in SLOTS:
        raise DataError(f"Unknown domain {slot!r}; choose one of {', '.join(SLOTS)}.")
    into = folder / "dropped" / slot
    if class_name and class_name.strip():
        into = into / safe_name(class_name.strip(), "class")
    into = _inside(folder, into)
    if into.exists() and not into.is_dir():
        raise DataError(f"An unlabelled image is already called {into.name!r}; choose another class name.")
    into.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, data in files:
        _inside(folder, _free_path(into, safe_name(name))).write_bytes(data)
        count += 1
    return count


def dropped_folder(folder: Path, slot: str) -> Path | None:
    """The folder of images dropped into `slot`; None while there are none."""
    dropped = folder / "dropped" / slot
    return dropped if dropped.is_dir() and any(dropped.iterdir()) else None


def clear_dropped(folder: Path) -> None:
    shutil.rmtree(folder / "dropped", ignore_errors=True)


def dropped_counts(folder: Path) -> dict[str, dict[str, int]]:
    """Images dropped so far: ``{slot: {class or '(unlabelled)': count}}``."""
    counts: dict[str, dict[str, int]] = {}
    for slot in SLOTS:
        dropped = folder / "dropped" / slot
        if not dropped.is_dir():
            continue
        per = {}
        for entry in sorted(dropped.iterdir()):
            if entry.is_dir():
                key, n = entry.name, sum(1 for _ in entry.iterdir())
            else:
                key, n = "(unlabelled)", 1
            per[key] = per.get(key, 0) + n
        counts[slot] = per
    return counts


def add_zip(folder: Path, name: str, data: bytes) -> Path:
    """Extract an uploaded zip into the upload folder (once per content) and return where.

    What one session may extract in all is capped at `upload_folders.QUOTA`, counting what its
    folder already holds."""
    unpacked = _inside(folder, folder / "unpacked")
    unpacked.mkdir(exist_ok=True)
    stem = safe_name(name, "upload").removesuffix(".zip") or "upload"
    dest = unpacked / f"{stem}-{hashlib.blake2b(data, digest_size=6).hexdigest()}"
    if dest.is_dir():
        return dest  # the same upload opened again
    room = upload_folders.QUOTA - upload_folders.usage(folder) - len(data)
    if room <= 0:
        raise DataError(
            "This session's upload space is full (2 GiB); reload the page to start a new session."
        )
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".zip") as tmp:
        tmp.write(data)
        tmp.flush()
        limit = min(MAX_EXTRACT_BYTES, room)
        return extract_zip(tmp.name, dest, label=safe_name(name), max_bytes=limit)


def open_zips(
    folder: Path, source: tuple[str, bytes], target: tuple[str, bytes] | None, size: int
) -> tuple[Dataset, dict]:
    """The dataset in one uploaded zip (both domains), or in two (source, target), with its recipe."""
    src_dir = add_zip(folder, *source)
    tgt_dir = add_zip(folder, *target) if target else None
    name = safe_name(source[0]) + (f" → {safe_name(target[0])}" if target else "")
    if tgt_dir is None and find_pair(src_dir) is None:
        raise DataError(
            f"{safe_name(source[0])} holds one domain, not two: put train_data/ and test_data/ "
            "(or source/ and target/) in it, or upload the target as a second zip."
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

    A path in an uploaded zip's folder becomes the zip's name
    (``.../sessions/<id>/unpacked/real-<hash>/x`` -> ``real.zip/x``), a dropped domain's folder
    ``the dropped source images``."""
    for base in {home(), home().resolve()}:
        folders = re.escape(str(base / upload_folders.ROOT))
        message = re.sub(rf"{folders}/[\w-]+/dropped/(source|target)", r"the dropped \1 images", message)
        message = re.sub(rf"(?:{folders}/[\w-]+|{re.escape(str(base))})/unpacked/", "", message)
        message = re.sub(rf"{folders}(?:/[\w-]+)?", "this session's upload folder", message)
        message = message.replace(str(base), "the app's folder")
    return _UNPACKED.sub(r"\g<stem>.zip", message)
