"""Sweeps end to end on small data: folders and results, the cache, stop and resume, worker
processes (one killed mid-run), and stacked models that take the same steps as separate runs."""

import multiprocessing
import os
import signal
import threading
from dataclasses import replace

import pytest
import torch

from explorer.dann.config import TrainConfig
from explorer.dann.trainer import Trainer
from explorer.data.builtin import load_builtin
from explorer.execution.events import Epoch, Retrying, Started, SweepEnded, SweepStarted
from explorer.execution.grid import Grid
from explorer.execution.stacked import StackedTrainer
from explorer.execution.sweep import Sweep
from explorer.store import checkpoints

BASE = TrainConfig(width=0.125, image_size=16, batch_size=32, epochs=2)
TRAIN_FILES = {
    "config.json",
    "metrics.jsonl",
    "last.pt",
    "epoch_0000.pt",
    "epoch_0001.pt",
    "epoch_0002.pt",
    "best-im.pt",
}


@pytest.fixture(scope="module")
def data16():
    return load_builtin(16)


def finals(events):
    """Each run's final event (or the cached one), by run index."""
    return {
        e.index: e
        for e in events
        if not isinstance(e, SweepStarted | SweepEnded) and (e.final or e.kind == "cached")
    }


def test_a_2x2_sweep_writes_run_folders_and_results_then_skips_them(data16, tmp_path):
    grid = Grid.parse(["lamb=0,0.3", "canny=off,100/200"])
    sweep = Sweep(grid, BASE, data16, tmp_path, workers=1)
    events = list(sweep.events())
    assert isinstance(events[0], SweepStarted) and events[0].runs == 4 and events[0].cached == 0
    assert isinstance(events[-1], SweepEnded) and events[-1].kind == "done" and events[-1].runs == 4
    assert {e.kind for e in finals(events).values()} == {"done"}
    for r in sweep.runs:
        assert TRAIN_FILES <= {p.name for p in r.folder.iterdir()}
    rows = sweep.results()
    assert [(row["lamb"], row["canny"]) for row in rows] == [
        ("0", "off"),
        ("0", "100/200"),
        ("0.3", "off"),
        ("0.3", "100/200"),
    ]
    assert all(
        row["status"] == "finished" and row["epochs"] == 2 and 0 <= row["target_acc"] <= 1 for row in rows
    )
    assert all(row["selected_epoch"] in (1, 2) and row["val_im"] is not None for row in rows)
    header = sweep.results_csv().splitlines()[0].split(",")
    assert header[:3] == ["lamb", "canny", "seed"] and {
        "target_acc",
        "val_im",
        "seconds",
        "selected_epoch",
        "where",
        "folder",
    } <= set(header)
    assert {row["where"] for row in rows} == {"in this process"}
    best = events[-1].best
    assert best["point"] in {r.key for r in sweep.runs} and best["by"] == "im"
    assert best["score"] == max(row["val_im"] for row in rows)  # one seed: the point's score is its run's
    assert events[-1].oracle["target_acc"] == max(row["target_acc"] for row in rows)
    # one seed: the validator's favourite either is the labels' best run (regret 0) or it is not
    # (regret = the gap)
    chosen = max(rows, key=lambda row: row["val_im"])
    gap = max(row["target_acc"] for row in rows) - chosen["target_acc"]
    assert events[-1].agreement == {"seeds": 1, "matched": int(gap == 0), "regret": pytest.approx(gap)}

    again = list(Sweep(grid, BASE, data16, tmp_path, workers=1).events())
    assert again[0].cached == 4
    assert not [e for e in again if isinstance(e, Epoch)]  # nothing trained again
    assert {e.kind for e in finals(again).values()} == {"cached"}


def test_a_stopped_sweep_resumes_where_it_was(data16, tmp_path):
    grid = Grid.parse(["lamb=0.1,1"])
    stop = threading.Event()
    sweep = Sweep(grid, BASE.__class__(**(BASE.to_dict() | {"epochs": 3})), data16, tmp_path, workers=1)
    events = []
    for e in sweep.events(stop):
        events.append(e)
        if isinstance(e, Epoch):
            stop.set()  # after the first epoch of the first run
    assert events[-1].kind == "stopped" and "resumes" in events[-1].message
    assert [row["status"] for row in sweep.results()] == ["partial", "not trained"]
    resumed = list(sweep.events())
    starts = [e.start for e in resumed if isinstance(e, Started)]
    assert [s["resumed_from"] for s in starts] == [1, 0]
    assert [row["status"] for row in sweep.results()] == ["finished", "finished"]


def test_worker_processes_train_side_by_side_and_a_killed_worker_costs_a_retry_not_a_run(data16, tmp_path):
    grid = Grid.parse(["lamb=0,0.3", "canny=off,100/200"])
    sweep = Sweep(grid, TrainConfig(**(BASE.to_dict() | {"epochs": 4})), data16, tmp_path, workers=2)
    events, killed = [], False
    for e in sweep.events():
        events.append(e)
        if not killed and isinstance(e, Epoch):
            os.kill(multiprocessing.active_children()[0].pid, signal.SIGKILL)
            killed = True
    wheres = {e.where for e in events if isinstance(e, Epoch)}
    assert wheres and all(w.startswith("cpu process") and "of 2" in w for w in wheres)
    retries = [e for e in events if isinstance(e, Retrying)]
    assert retries and all("trains again from its last finished epoch" in e.message for e in retries)
    assert events[-1].kind == "done"
    assert {e.kind for e in finals(events).values()} == {"done"}
    assert [row["status"] for row in sweep.results()] == ["finished"] * 4
    resumed = [e.start["resumed_from"] for e in events if isinstance(e, Started)]
    # the retried runs started again, from a finished epoch or from scratch
    assert len(resumed) == 4 + len(retries)


@pytest.mark.parametrize("update", ["two-step", "grl"])
def test_one_stacked_copy_takes_the_steps_of_a_plain_run(data16, tmp_path, update):
    """The stack runs the real DANN step: a stack of one, fed the same batches, gives the plain
    run's losses step for step (a wrong step, or a wrong update, shows from the second step on).
    Two steps: from the third on, the two-step update's Adam amplifies the grouped convolutions'
    rounding (measured on an AMD EPYC: 3e-7 relative at the second step, 1e-4 at the third, 5e-3 at
    the fourth), while a lambda 10% off already differs by 3e-4 (grl) to 2e-2 (two-step) at the second."""
    # the eager fp32 step: in bf16, grouped and plain convolutions round apart from the first step
    cfg = TrainConfig(**(BASE.to_dict() | {"update": update, "lamb": 0.5, "mmd_weight": 0.1, "fast": "off"}))
    plain, copy = Trainer(cfg, data16, tmp_path / "plain"), Trainer(cfg, data16, tmp_path / "copy")
    stack = StackedTrainer([copy])
    plain.begin(), copy.begin()
    stack._stack()
    plan_p, plan_c = plain.plan("dann"), copy.plan("dann")
    for step in range(2):
        one = plain.dann_step(plain.batch(plan_p, step))
        b = copy.batch(plan_c, step)
        out = stack.step(
            b.xs[None], b.ys[None], copy.inputs(b.xt, augment=True)[None], torch.tensor([b.lamb])
        )
        for name in ("class_loss", "domain_loss", "loss", "source_correct", "domain_correct"):
            # grouped convs round differently, by about 1e-6
            assert out[name][0].item() == pytest.approx(one[name].item(), rel=2e-5, abs=1e-6), (step, name)


@pytest.mark.parametrize("update", ["two-step", "grl"])
def test_a_stacked_step_equals_k_separate_steps(data16, tmp_path, update):
    configs = [
        TrainConfig(
            **(
                BASE.to_dict()
                | {"update": update, "lamb": lamb, "seed": seed, "canny": (100, 200), "fast": "off"}
            )
        )
        for lamb, seed in ((0.3, 0), (1.0, 1), (0.0, 2))
    ]
    alone = [Trainer(c, data16, tmp_path / f"a{i}") for i, c in enumerate(configs)]
    together = [Trainer(c, data16, tmp_path / f"b{i}") for i, c in enumerate(configs)]
    stack = StackedTrainer(together)
    for t in alone + together:
        t.begin()
    stack._stack()
    plans_a, plans_b = [t.plan("dann") for t in alone], [t.plan("dann") for t in together]
    for step in range(3):
        separate = []
        for t, plan in zip(alone, plans_a):
            b = t.batch(plan, step)
            separate.append(t.dann_step(b))
        picks = [t.batch(plan, step) for t, plan in zip(together, plans_b)]
        xs, ys = torch.stack([p.xs for p in picks]), torch.stack([p.ys for p in picks])
        xt = torch.stack([t.inputs(p.xt, augment=True) for t, p in zip(together, picks)])
        out = stack.step(xs, ys, xt, torch.tensor([p.lamb for p in picks]))
        for k, one in enumerate(separate):
            for name in ("class_loss", "domain_loss", "loss"):
                assert out[name][k].item() == pytest.approx(one[name].item(), rel=1e-4, abs=1e-5), (
                    step,
                    k,
                    name,
                )
            assert out["source_correct"][k].item() == one["source_correct"].item()


def test_a_stacked_run_writes_what_a_lone_run_writes_and_resumes_alone(data16, tmp_path):
    grid = Grid.parse(["lamb=0.1,1", "lambda_schedule=constant,dann"])
    base = TrainConfig(**(BASE.to_dict() | {"epochs": 3}))
    stop = threading.Event()
    sweep = Sweep(grid, base, data16, tmp_path, stacked=True)
    events = []
    for e in sweep.events(stop):
        events.append(e)
        if isinstance(e, Epoch) and e.epoch["epoch"] == 2:
            stop.set()  # the stack stops after its second epoch
    assert {e.where for e in events if isinstance(e, Epoch)} == {"cpu, stacked x4"}
    assert {e.kind for e in finals(events).values()} == {"stopped"}
    sizes = set()
    for r in sweep.runs:
        assert TRAIN_FILES <= {p.name for p in r.folder.iterdir()}
        last = checkpoints.load(r.folder / "last.pt")
        assert last["epoch"] == 2 and last["optim"]["fc"]["state"] and len(last["metrics"]) == 2
        sizes.add((r.folder / "last.pt").stat().st_size)
    # each file holds its own copy, not the whole stack (configs differ by a few bytes)
    assert max(sizes) < 1.01 * min(sizes)
    resumed = list(Sweep(grid, base, data16, tmp_path, workers=1).events())  # resumes each run alone
    starts = [e.start["resumed_from"] for e in resumed if isinstance(e, Started)]
    assert starts == [2, 2, 2, 2]
    assert [row["epochs"] for row in sweep.results()] == [3, 3, 3, 3]


def test_in_a_stack_a_diverged_copy_stops_alone_and_sgd_keeps_its_schedule(data16, tmp_path):
    configs = [
        TrainConfig(**(BASE.to_dict() | {"optimizer": "sgd", "lamb": lamb, "epochs": 1}))
        for lamb in (0.1, 0.3, 1.0)
    ]
    stack = StackedTrainer([Trainer(c, data16, tmp_path / str(i)) for i, c in enumerate(configs)])
    stack_weights = stack._stack

    def poisoned():  # copy 1's weights become NaN before the first step
        stack_weights()
        with torch.no_grad():
            for p in stack.params.values():
                p[1].fill_(float("nan"))

    stack._stack = poisoned
    events = dict(list(stack.events())[3:6])  # after the three start events: each copy's epoch or error
    # StackedTrainer yields the trainers' own events
    assert events[1]["kind"] == "error" and "diverged" in events[1]["message"]
    steps = stack.trainers[0].plan("dann").steps
    for k in (0, 2):
        assert events[k]["kind"] == "epoch"
        # the whole epoch trained
        assert round(events[k]["img_per_s"] * events[k]["seconds"]) == steps * BASE.batch_size
    assert events[0]["lr"] < configs[0].lr  # SGD anneals ...
    # ... in the stacked optimiser too
    assert stack.opts.fc.param_groups[0]["lr"] == pytest.approx(events[0]["lr"])


def test_costs_are_known_before_the_sweep_and_match_what_it_writes(data16, tmp_path):
    from explorer.execution import costs

    sweep = Sweep(Grid.parse(["lamb=0,1"]), BASE, data16, tmp_path, workers=1)
    assert costs.seconds(sweep) > 0
    expected = costs.checkpoint_bytes(sweep)
    list(sweep.events())
    written = sum(f.stat().st_size for r in sweep.runs for f in r.folder.glob("*.pt"))
    assert 0.7 * written < expected < 1.3 * written
    assert costs.seconds(sweep) == 0 and costs.checkpoint_bytes(sweep) == 0  # nothing left to train


def test_nothing_is_named_best_until_every_run_has_ended(data16, tmp_path):
    from explorer.execution.events import Done

    sweep = Sweep(Grid.parse(["lamb=0.1,1"]), BASE, data16, tmp_path, workers=1)
    stop, events = threading.Event(), []
    for e in sweep.events(stop):
        events.append(e)
        if isinstance(e, Done):
            stop.set()  # the first run has finished, the second has not started
    assert events[-1].kind == "stopped" and events[-1].best is None and events[-1].oracle is None
    assert sweep.best() == {"best": None, "oracle": None, "agreement": None}
    now = sweep.so_far()
    assert now["finished"] == 1 and now["runs"] == 2
    assert now["leader"]["point"] == sweep.runs[0].key == now["oracle"]["point"]
    # a run that failed has ended too: the verdict is named among the others
    sweep.failed = {1}
    assert [row["status"] for row in sweep.results()] == ["finished", "failed"]
    assert sweep.best()["best"]["point"] == sweep.runs[0].key
    ended = list(sweep.events())  # the next start trains it again; now every run has ended
    assert (
        not sweep.failed
        and ended[-1].kind == "done"
        and ended[-1].best["point"] in {r.key for r in sweep.runs}
    )


def test_the_default_grid_is_one_run_per_lambda_and_a_point_auto_already_is_trains_once(data16, tmp_path):
    from explorer.execution import auto
    from explorer.store import decisions

    grid = Grid.parse(["lamb=0,0.1,0.3,1", "canny=auto"])
    assert len(Sweep(grid, BASE, data16, tmp_path).runs) == 4
    options = auto.shortlist(BASE, data16)
    none = [i for i, o in enumerate(options) if o.preprocess.spec is None and o.augment == "rotate"][0]
    scores = [
        [{"epoch": e, "validators": {"im": 0.9 if i == none else 0.1}} for e in (1, 2)]
        for i in range(len(options))
    ]
    decisions.save(auto.decide(options, scores, data16.fingerprint, "dann", epochs=2))
    both = Sweep(
        Grid.parse(["lamb=0,1", "canny=auto,off"]), replace(BASE, augment="rotate"), data16, tmp_path
    )
    # auto chose no edges: its runs are the "off" row's, trained once, under the auto row
    assert [r.point["canny"] for r in both.runs] == ["auto", "auto"]
    assert len({r.folder for r in both.runs}) == 2 and [r.index for r in both.runs] == [0, 1]


def test_the_estimate_counts_judging_each_epoch_and_the_busiest_worker(data16, tmp_path, monkeypatch):
    from explorer.execution import costs, estimates

    monkeypatch.setattr(estimates, "step_seconds", lambda *a: 0.01)
    n_train, held = BASE.split(len(data16.source))
    per_epoch = n_train // BASE.batch_size * costs.TRAIN_STEP + len(data16.target) / costs.JUDGED_PER_STEP
    run = (
        costs.RUN_START + BASE.epochs * (per_epoch + held / costs.JUDGED_PER_STEP + costs.RECORD_STEPS) * 0.01
    )
    alone = Sweep(Grid.parse(["lamb=0,1"]), BASE, data16, tmp_path, workers=1)
    assert costs.seconds(alone) == pytest.approx(2 * run)  # one after another, in this process
    three = Sweep(Grid.parse(["lamb=0,0.3,1"]), BASE, data16, tmp_path, workers=2)
    # two workers, each at SIDE_BY_SIDE / 2 of this process's speed: the first takes two of the runs
    slower = 2 / estimates.SIDE_BY_SIDE
    assert costs.seconds(three) == pytest.approx(costs.WORKER_START + 2 * run * slower)
    assert costs.in_channels(BASE, data16) == 1  # the embedded target is grey: so are the networks' inputs
