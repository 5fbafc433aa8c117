"""One function chooses the back-end, from the request and the machine; every back-end yields the
same typed events; the app's storage rules wrap a run in one place."""

import threading

import pytest

from explorer.dann.config import TrainConfig
from explorer.data.builtin import load_builtin
from explorer.execution.backends import InProcess, Request
from explorer.execution.choose import choose
from explorer.execution.events import Done, Epoch, Failed, Started, typed
from explorer.execution.keep import Keep, source_only_twin
from explorer.execution.processes import Processes
from explorer.execution.stacked import Stacked
from explorer.store import cache, runs

# set by hand: one run
CFG = TrainConfig(width=0.125, image_size=16, batch_size=32, epochs=1, canny=None, augment="rotate")


def test_choose_picks_by_run_count_device_and_request():
    assert isinstance(choose(CFG), InProcess)  # one run: this process
    assert isinstance(choose(CFG, 4, workers=1), InProcess)  # one worker: one after another
    side = choose(CFG, 4, workers=2)
    assert isinstance(side, Processes) and side.workers == 2 and side.lane == "cpu"
    assert isinstance(choose(CFG, 4, workers=2, stacked=True), Stacked)  # asked for: stacked, even on a CPU
    assert isinstance(choose(CFG, 1, stacked=True), InProcess)  # nothing to stack
    assert choose(CFG).device_type(CFG) == "cpu" and choose(CFG).plan(1).startswith("CPU")


def test_trainer_events_become_typed_events_and_unknown_kinds_are_refused():
    assert isinstance(typed(3, "here", {"kind": "start"}), Started)
    done = typed(0, "here", {"kind": "done", "run_id": "x"})
    assert isinstance(done, Done) and done.final and done.summary == {"run_id": "x"}
    failed = typed(1, "there", {"kind": "error", "message": "m", "epoch": 2})
    assert isinstance(failed, Failed) and (failed.index, failed.where, failed.message, failed.epoch) == (
        1,
        "there",
        "m",
        2,
    )
    for kind in ("sweep", "waiting", "retry"):  # a back-end yields its own Waiting and Retrying
        with pytest.raises(ValueError):
            typed(0, "here", {"kind": kind, "message": "m"})


def test_in_process_trains_one_run_under_the_cache_rules_for_an_owner(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path / "home"))
    data = load_builtin(16)
    folder = cache.run_dir(CFG.run_id(data.fingerprint, "cpu"))
    seen_locked = []

    def watch(events):
        for event in events:
            seen_locked.append(cache.busy(folder))
            yield event

    backend = choose(CFG)
    events = list(watch(backend.train([Request(7, CFG, folder)], data, threading.Event(), Keep("a" * 32))))
    assert [type(e) for e in events] == [Started, Epoch, Done] and {e.index for e in events} == {7}
    assert all(seen_locked)  # the run's lock is held from its first event to its last
    assert not cache.busy(folder)  # and let go at the end
    assert "a" * 32 in runs.owners(folder)
    # its source-only twin: the same options, its own folder
    config, twin_folder = source_only_twin(runs.read_run(folder).config)
    assert config.method == "source-only" and twin_folder == cache.run_dir(
        config.run_id(data.fingerprint, "cpu")
    )


def test_a_run_that_cannot_start_fails_with_a_sentence_and_the_next_still_trains(tmp_path):
    data = load_builtin(16)
    (tmp_path / "taken").mkdir()
    # a run of CFG
    list(InProcess().train([Request(0, CFG, tmp_path / "taken")], data, threading.Event(), Keep()))
    other = TrainConfig(**(CFG.to_dict() | {"seed": 5}))
    events = list(
        InProcess().train(
            [Request(0, other, tmp_path / "taken"), Request(1, CFG, tmp_path / "free")],
            data,
            threading.Event(),
            Keep(),
        )
    )
    assert isinstance(events[0], Failed) and "holds another run" in events[0].message
    assert isinstance(events[-1], Done) and events[-1].index == 1
