"""Reading runs back: when a run counts as finished."""

from pathlib import Path

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
    assert record(
        {"time_budget": 10.0}, epochs(5, 2.5)
    ).finished  # 12.5 s of 10: the budget is spent at 5 epochs
    assert not record({"time_budget": 10.0}, epochs(3, 2.5)).finished
    with_self_training = epochs(5, 2.5) + [{"epoch": 6, "stage": "self-train", "elapsed": 15.0}]
    assert not record({"time_budget": 10.0, "self_train_epochs": 2}, epochs(5, 2.5)).finished
    assert not record({"time_budget": 10.0, "self_train_epochs": 2}, with_self_training).finished
    assert record({"time_budget": 10.0, "self_train_epochs": 1}, with_self_training).finished
