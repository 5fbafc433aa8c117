"""Reading runs back: when a run counts as finished, and which checkpoint it ships."""

import json
from pathlib import Path

from explorer.dann.runfolder import kept_checkpoints, shipped
from explorer.store.runs import RunRecord


def record(config: dict, metrics: list[dict]) -> RunRecord:
    return RunRecord(
        "r", Path("."), {"epochs": 40, "self_train_epochs": 0, "time_budget": None} | config, metrics
    )


def epochs(n: int, seconds: float, stage: str = "dann") -> list[dict]:
    return [{"epoch": i + 1, "stage": stage, "elapsed": seconds * (i + 1)} for i in range(n)]


def test_a_run_is_finished_after_its_epochs_or_its_time_budget():
    assert record({}, epochs(40, 1.0)).finished
    assert not record({}, epochs(39, 1.0)).finished
    # 12.5 s of 10: the budget is spent at 5 epochs
    assert record({"time_budget": 10.0}, epochs(5, 2.5)).finished
    assert not record({"time_budget": 10.0}, epochs(3, 2.5)).finished
    with_self_training = epochs(5, 2.5) + [{"epoch": 6, "stage": "self-train", "elapsed": 15.0}]
    assert not record({"time_budget": 10.0, "self_train_epochs": 2}, epochs(5, 2.5)).finished
    assert not record({"time_budget": 10.0, "self_train_epochs": 2}, with_self_training).finished
    assert record({"time_budget": 10.0, "self_train_epochs": 1}, with_self_training).finished


def test_a_run_ships_its_validators_pick_else_its_last_epoch(tmp_path):
    history = [{"epoch": e, "validators": {"im": s}} for e, s in ((0, 0.1), (1, 0.5), (2, 0.5), (3, 0.2))]
    for name in ("epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt", "last.pt", "best-im.pt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    ship = shipped(tmp_path, "im")  # the history read from the folder; a tie goes to the later epoch
    assert (ship.path.name, ship.epoch, ship.by, ship.why) == ("best-im.pt", 2, "im", "the best epoch by im")
    assert ship.label == "epoch 2 (selected by confidence and balance of the target predictions (IM))"
    last = shipped(tmp_path, "source_acc", history)  # no source_acc scores: the last epoch
    assert (last.path.name, last.epoch, last.by) == (
        "last.pt",
        3,
        None,
    ) and "no source_acc scores" in last.why
    assert shipped(tmp_path, "last", history).why == "the last epoch"
    kept = kept_checkpoints(tmp_path, ship)
    assert [c.label for c in kept] == [
        "epoch 0",
        "epoch 1",
        "epoch 2 (selected by confidence and balance of the target predictions (IM))",
    ]
    assert kept[2].path.name == "best-im.pt" and kept[1].path.name == "epoch_0001.pt"
    assert [c.by for c in kept_checkpoints(tmp_path, last)] == [None, None, None]
    assert shipped(tmp_path / "none", "im", []).epoch is None  # nothing trained yet: no epoch, no file
