"""Extract an uploaded .zip without trusting it.

A zip is refused whole, and nothing of it is left on disk, when any entry

* has an absolute path, a drive letter or a ``..`` component (it would land outside `dest`),
* is a symbolic link,
* would push the extracted total past `max_bytes` or the entry count past `max_files`
  (a zip bomb: the sizes written are counted as they are written, not taken from the header),
* cannot be read (corrupt, encrypted, unknown compression).

A zip that holds no files, or no image among its files, is refused too, with a sentence that says so.

Entries are written into a staging folder beside `dest` that is renamed to `dest` only when
everything succeeded. macOS resource forks (``__MACOSX/``) and hidden files are skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from explorer.data.images import is_image_name
from explorer.errors import DataError

MAX_EXTRACT_BYTES = 1 << 30  # 1 GiB: the homework's real_or_drawing unpacks to about 0.2 GiB
MAX_FILES = 200_000
_CHUNK = 1 << 20


def _entry_parts(filename: str, archive: str) -> tuple[str, ...] | None:
    """The entry's path parts, None for entries to skip; raises for entries that escape."""
    name = filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"Refused {archive}: entry {filename!r} has an absolute path.")
    if ".." in path.parts:
        raise DataError(f"Refused {archive}: entry {filename!r} points outside the archive ('..').")
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return None
    return parts


def extract_zip(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_bytes: int = MAX_EXTRACT_BYTES,
    max_files: int = MAX_FILES,
    label: str | None = None,
) -> Path:
    """Extract `archive` into the new folder `dest` and return it; `label` names it in messages."""
    label = label or Path(archive).name
    dest = Path(dest)
    if dest.exists():
        raise DataError(f"Cannot extract {label}: {dest} already exists.")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DataError(f"{label} is not a readable zip file.") from None
    with zf:
        entries = _entries(zf, label, max_files)
        if sum(info.file_size for info, _ in entries) > max_bytes:
            raise DataError(_too_big(label, max_bytes))
        _has_images(zf, entries, label)
        staging = dest.with_name(f".{dest.name}.partial-{uuid.uuid4().hex[:8]}")
        staging.mkdir(parents=True)
        try:
            written = 0
            for info, parts in entries:
                written = _write_entry(zf, info, staging.joinpath(*parts), label, written, max_bytes)
            try:
                staging.rename(dest)
            except OSError as e:
                raise DataError(f"Cannot extract {label}: {e.strerror or e}.") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return dest


def _entries(
    zf: zipfile.ZipFile, label: str, max_files: int
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The files to write, with their path parts; raises for too many entries, an escaping path or a link."""
    if len(zf.infolist()) > max_files:
        raise DataError(
            f"Refused {label}: {len(zf.infolist()):,} entries is more than the limit of {max_files:,}."
        )
    entries = []
    for info in zf.infolist():
        parts = _entry_parts(info.filename, label)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(f"Refused {label}: entry {info.filename!r} is a symbolic link.")
        if parts is not None and not info.is_dir():
            entries.append((info, parts))
    return entries


def _has_images(zf: zipfile.ZipFile, entries: list, label: str) -> None:
    """Refuse, in one sentence that says what is in it, a zip with no files or no image among them."""
    files = sum(1 for info in zf.infolist() if not info.is_dir())
    if files == 0:
        raise DataError(
            f"{label} is empty: it holds no files. "
            "Zip the folder that holds your images, one folder per class, and upload that."
        )
    if not any(is_image_name(parts[-1]) for _, parts in entries):
        what = f"{files:,} files, none of them an image" if files > 1 else "1 file, which is not an image"
        raise DataError(
            f"{label} holds {what} (.png, .jpg, .bmp, .gif, .tif, .webp, …). "
            "Put your images in it, one folder per class, and upload it again."
        )


def _too_big(label: str, max_bytes: int) -> str:
    return (
        f"Refused {label}: it expands to more than {max_bytes / 2**20:,.0f} MiB "
        "(the limit for one upload; a zip bomb looks like this)."
    )


def _write_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, label: str, written: int, max_bytes: int
) -> int:
    """Copy one entry to `target` (a new file) in chunks, counting the bytes really written: returns
    the running total `written` plus this entry's, and raises as soon as it passes `max_bytes`."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "xb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise DataError(_too_big(label, max_bytes))
                out.write(chunk)
    except (FileExistsError, NotADirectoryError):
        raise DataError(
            f"Refused {label}: entry {info.filename!r} clashes with another entry of the same name."
        ) from None
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, OSError) as e:
        raise DataError(f"Cannot read entry {info.filename!r} of {label}: {e}") from None
    return written


def unpack(archive: str | os.PathLike, workdir: str | os.PathLike) -> Path:
    """Extract `archive` once into `workdir`, keyed by its content; later calls reuse the folder."""
    h = hashlib.blake2b(digest_size=8)
    with open(archive, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    dest = Path(workdir) / f"{Path(archive).stem}-{h.hexdigest()}"
    return dest if dest.is_dir() else extract_zip(archive, dest)
