"""A run's metrics as it grows: each reader reads only the lines written since its last look, and every
reader in the process (all the Streamlit sessions watching one run) shares one reading of each file.

``metrics.jsonl`` only grows while a run trains; it is replaced whole (a new file, so a new inode)
when a run starts again or resumes from a checkpoint (`explorer.dann.runfolder`). A `Tail` keeps the
rows read so far and the byte offset after the last complete line: a look reads from that offset
to the end, parses the complete lines, and leaves a half-written last line for the next look. When
the file was replaced or is shorter than the offset, it starts again from the beginning.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

KEPT = 512  # files whose reading is kept; the least recently read is forgotten first


class Tail:
    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        self.offset = 0
        self.inode: int | None = None
        self.bytes_read = 0  # all the bytes this reading ever read (a test checks it reads only new ones)
        self._lock = threading.Lock()

    def read(self) -> list[dict]:
        """Every row so far (a new list; the rows themselves are shared, read-only)."""
        with self._lock:
            try:
                stat = os.stat(self.path)
            except OSError:
                self.rows, self.offset, self.inode = [], 0, None
                return []
            if stat.st_ino != self.inode or stat.st_size < self.offset:
                self.rows, self.offset, self.inode = [], 0, stat.st_ino
            if stat.st_size > self.offset:
                self._read_new()
            return list(self.rows)

    def _read_new(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        self.bytes_read += len(chunk)
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is read next time
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                self.rows.append(json.loads(line))
            except ValueError:  # a line cut short by a crash: skipped, as before
                continue


_tails: OrderedDict[str, Tail] = OrderedDict()
_lock = threading.Lock()


def tail(path: str | Path) -> Tail:
    """The process's one reading of the file at `path`."""
    key = os.path.abspath(path)
    with _lock:
        found = _tails.get(key)
        if found is None:
            found = _tails[key] = Tail(Path(key))
            if len(_tails) > KEPT:
                _tails.popitem(last=False)
        _tails.move_to_end(key)
        return found


def rows(path: str | Path) -> list[dict]:
    """Every row of a JSON-lines file, reading only what was added since this process last looked."""
    return tail(path).read()
