"""Listing the runs of the cache: each owner sees only its own, and a half-written metrics line
(a run being written) is skipped."""

import json
from pathlib import Path

from explorer.store.runs import add_owner, list_runs, owners


def write_run(folder: Path, epochs: int, metrics: str) -> Path:
    folder.mkdir()
    config = {
        "run_id": folder.name,
        "data_fingerprint": "fp",
        "method": "dann",
        "lamb": 0.1,
        "lambda_schedule": "constant",
        "epochs": epochs,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text(metrics)
    return folder


def test_runs_are_listed_for_their_owners_only(tmp_path):
    run = write_run(tmp_path / "abc", 1, json.dumps({"epoch": 1, "target_acc": 0.5}) + "\n")
    add_owner(run, "alice")
    add_owner(run, "alice")
    assert owners(run) == {"alice"}
    assert [r.run_id for r in list_runs("fp", "alice", root=tmp_path)] == ["abc"]
    assert list_runs("fp", "bob", root=tmp_path) == [] and list_runs("other", "alice", root=tmp_path) == []
    assert list_runs("fp", None, root=tmp_path)[0].finished


def test_half_written_metrics_line_is_skipped(tmp_path):
    write_run(tmp_path / "r", 3, json.dumps({"epoch": 1}) + "\n" + '{"epoch": 2, "targ')
    (tmp_path / "junk").mkdir()  # a folder that is not a run
    records = list_runs("fp", root=tmp_path)
    assert [m["epoch"] for m in records[0].metrics] == [1] and not records[0].finished
