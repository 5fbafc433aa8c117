"""A watcher of a growing metrics file reads only the new lines, shares its reading, and starts again
when the file is replaced (a run started over or resumed)."""

import json
import os

from explorer.dann.runfolder import RunFolder
from explorer.store import tail


def write(path, *rows, partial=""):
    with open(path, "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows) + partial)


def test_a_watcher_reads_only_the_lines_added_since_its_last_look(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, {"epoch": 1}, {"epoch": 2})
    watcher = tail.tail(path)
    assert [r["epoch"] for r in watcher.read()] == [1, 2]
    first = watcher.bytes_read
    assert first == path.stat().st_size
    # nothing new: nothing read
    assert [r["epoch"] for r in watcher.read()] == [1, 2] and watcher.bytes_read == first
    before = path.stat().st_size
    write(path, {"epoch": 3})
    assert [r["epoch"] for r in watcher.read()] == [1, 2, 3]
    assert watcher.bytes_read - first == path.stat().st_size - before  # only the new line


def test_a_line_being_written_waits_for_the_next_look(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, {"epoch": 1}, partial='{"epoch": ')
    assert [r["epoch"] for r in tail.rows(path)] == [1]
    write(path, partial="2}\n")
    assert [r["epoch"] for r in tail.rows(path)] == [1, 2]


def test_sessions_watching_one_run_share_one_reading(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write(path, {"epoch": 1})
    assert tail.tail(path) is tail.tail(str(path))
    tail.rows(path)
    tail.rows(path)
    assert tail.tail(path).bytes_read == path.stat().st_size


def test_a_run_started_over_is_read_from_its_start(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.begin({"run_id": "x"})
    for e in (1, 2, 3):
        folder.append({"epoch": e})
    assert len(tail.rows(folder.path / "metrics.jsonl")) == 3
    # a resume: the checkpoint's history is the truth
    folder.rewrite([{"epoch": 1}, {"epoch": 2, "resumed": True}])
    assert tail.rows(folder.path / "metrics.jsonl") == [{"epoch": 1}, {"epoch": 2, "resumed": True}]
    folder.begin({"run_id": "x"})
    folder.append({"epoch": 1, "again": True})
    folder.append({"epoch": 2, "again": True})
    assert [r.get("again") for r in tail.rows(folder.path / "metrics.jsonl")] == [True, True]
    os.remove(folder.path / "metrics.jsonl")
    assert tail.rows(folder.path / "metrics.jsonl") == []
