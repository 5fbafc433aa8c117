"""Auto that measures, on small data: the shortlist, the pick (with scores we control), the plan
(reuse, changed data, remeasure, a tiny target, options set by hand), and a whole measurement with
its decision kept, an option that diverges, and a stop."""

import json
import threading
from dataclasses import replace

import pytest

from explorer.dann.config import UNMEASURED_AUGMENT, TrainConfig
from explorer.data.domains import Dataset, Domain
from explorer.data.preprocess import Preprocess
from explorer.execution import auto
from explorer.execution.events import Done, Failed, MeasureEnded, MeasureStarted
from explorer.execution.measure import Measurement
from explorer.store import decisions, runs

SMALL = TrainConfig(width=0.125, image_size=16, batch_size=32, epochs=1)


def test_the_shortlist_holds_the_top_two_no_edges_and_both_augmentations(data16):
    options = auto.shortlist(SMALL, data16)
    preps = list(dict.fromkeys(o.preprocess.spec for o in options))
    assert 2 <= len(preps) <= 3 and None in preps  # "no edges" always
    assert len(options) == 2 * len(preps) <= 6 and {o.augment for o in options} == {"rotate", "none"}
    # the statistics' favourite first
    assert options[0].augment == "rotate" and options[0].preprocess.spec is not None
    # preprocessing set by hand: only augmentation varies
    by_hand = auto.shortlist(replace(SMALL, canny=(100, 200)), data16)
    assert [(o.preprocess.spec, o.augment) for o in by_hand] == [((100, 200), "rotate"), ((100, 200), "none")]
    assert [o.augment for o in auto.shortlist(replace(SMALL, augment="none"), data16)] == ["none"] * len(
        preps
    )


def test_a_preprocessing_spec_round_trips_and_trains_what_it_says():
    for p in (
        Preprocess("none"),
        Preprocess("none", invert=True),
        Preprocess("source", 50, 100),
        Preprocess("source", 50, 100, True),
        Preprocess("both", 150, 300),
    ):
        assert Preprocess.from_spec(p.spec) == p and TrainConfig(canny=p.spec).canny == p.spec
    with pytest.raises(Exception, match="canny must be"):
        TrainConfig(canny="both:300/100")


def history(*scores, acc=0.5):
    return [{"epoch": i + 1, "validators": {"im": s}, "target_acc": acc} for i, s in enumerate(scores)]


def test_the_pick_is_the_validators_best_over_options_and_epochs_and_a_failed_option_is_never_chosen(data16):
    options = auto.shortlist(SMALL, data16)[:4]
    # option 3 peaks highest, early
    hists = [history(0.1, 0.5, 0.2), history(0.3, 0.4, 0.45), None, history(0.6, 0.1)]
    d = auto.decide(options, hists, "fp", "dann")
    assert (
        d["chosen"]["index"] == 3
        and d["chosen"]["label"] == options[3].label
        and "no target label" in d["why"]
    )
    assert [t["score"] for t in d["tried"]] == [0.5, 0.45, None, 0.6] and [
        t["selected_epoch"] for t in d["tried"]
    ] == [2, 3, None, 1]
    assert d["tried"][2]["failed"] and len(d["tried"]) == 4
    tie = auto.decide(options[:2], [history(0.5), history(0.5)], "fp", "dann")
    assert tie["chosen"]["index"] == 0  # a tie goes to the earlier (the statistics' favourite)
    with pytest.raises(ValueError):
        auto.decide(options[:1], [None], "fp", "dann")


def test_a_decision_is_reused_for_the_same_data_and_method_only(data16):
    options = auto.shortlist(SMALL, data16)
    first = auto.plan(SMALL, data16)
    assert len(first.configs) == len(options) and first.decision is None and "measuring" in first.note
    decisions.save(
        auto.decide(options, [history(0.1)] * (len(options) - 1) + [history(0.9)], data16.fingerprint, "dann")
    )
    # another lambda and seed: reused, one option trains
    again = auto.plan(replace(SMALL, lamb=0.3, seed=5), data16)
    assert len(again.configs) == 1 and "measured on this data on" in again.note
    assert (again.configs[0].canny, again.configs[0].augment) == (
        options[-1].preprocess.spec,
        options[-1].augment,
    )
    assert again.configs[0].lamb == 0.3 and not again.configs[0].measured
    assert len(auto.plan(SMALL, data16, remeasure=True).configs) == len(options)  # measure again
    # a source-only run left to auto makes its own (a DANN run's twin does not: keep.source_only_twin)
    assert len(auto.plan(replace(SMALL, method="source-only"), data16).configs) == len(options)
    changed = Dataset(
        data16.name, data16.source, replace(data16.target, images=data16.target.images.flip(-1))
    )
    assert changed.fingerprint != data16.fingerprint and len(auto.plan(SMALL, changed).configs) == len(
        options
    )
    # nothing left to auto: trains as set, says nothing
    hand = auto.plan(replace(SMALL, canny=None, augment="rotate"), data16)
    assert hand.configs == [replace(SMALL, canny=None, augment="rotate")] and hand.note == ""
    chosen = replace(SMALL, canny=options[-1].preprocess.spec, augment=options[-1].augment)
    assert auto.reuse(SMALL, data16) == chosen  # a sweep's runs reuse it too, never measure


def test_a_tiny_target_falls_back_to_the_statistics_and_says_so(data16):
    t = data16.target
    tiny = Domain(
        t.name, t.images[:30], t.labels[:30], t.classes, t.files[:30], t.origin, t.sizes[:30], t.modes[:30]
    )
    plan = auto.plan(SMALL, Dataset("tiny", data16.source, tiny))
    assert len(plan.configs) == 1 and "only 30 images" in plan.note and plan.configs[0].augment == "rotate"


def measured_at(data, reached: int, **asked) -> dict:
    """A decision whose options each reached `reached` epochs (the last option wins), kept for `data`."""
    options = auto.shortlist(SMALL, data)
    hists = [history(*[0.1] * reached)] * (len(options) - 1) + [history(*[0.9] * reached)]
    decision = auto.decide(options, hists, data.fingerprint, "dann", **asked)
    decisions.save(decision)
    return decision


def test_a_decision_serves_only_runs_that_ask_for_no_more_training_than_it_saw(data16):
    options = auto.shortlist(SMALL, data16)
    measured_at(data16, 3, epochs=3)
    longer = auto.plan(replace(SMALL, epochs=40), data16)
    assert len(longer.configs) == len(options) and longer.decision is None
    assert "Measured before at 3 epochs; this 40-epoch run measures again." in longer.note
    assert len(auto.plan(replace(SMALL, epochs=3), data16).configs) == 1  # as much as it saw: reused
    # a sweep of 40-epoch runs does not reuse it either, and says so
    assert auto.reuse(replace(SMALL, epochs=40), data16) == replace(SMALL, epochs=40)
    assert "fewer than these 40-epoch runs" in auto.sweep_note(replace(SMALL, epochs=40), data16)
    measured_at(data16, 40, epochs=40)
    shorter = auto.plan(replace(SMALL, epochs=10), data16)
    assert len(shorter.configs) == 1 and "at 40 epochs" in shorter.note
    assert auto.reuse(replace(SMALL, epochs=10), data16).canny == options[-1].preprocess.spec
    assert "measured on this data at 40 epochs" in auto.sweep_note(replace(SMALL, epochs=10), data16)


def test_a_measurement_a_budget_cut_short_is_provisional(data16):
    cut = measured_at(data16, 4, epochs=40, budget=90.0)
    assert cut["provisional"] and (cut["epochs"], cut["budget"]) == (40, 90.0)
    assert "Provisional: a time budget cut the options short" in auto.reuse_note(cut)
    whole = measured_at(data16, 40, epochs=40, budget=900.0)
    assert not whole["provisional"] and "Provisional" not in auto.reuse_note(whole)
    assert not measured_at(data16, 1, epochs=1)["provisional"]  # no budget: what it asked for


def test_a_budget_too_short_to_measure_trains_one_option_for_all_of_it(data16, monkeypatch):
    options = auto.shortlist(SMALL, data16)
    # every option side by side reaches 5 of 40 epochs; one alone, 15
    monkeypatch.setattr(auto, "_reached", lambda config, options, data: 5.0)
    budgeted = replace(SMALL, epochs=40, time_budget=60.0)
    plan = auto.plan(budgeted, data16)
    assert len(plan.configs) == 1 and plan.options == [] and plan.configs[0].time_budget == 60.0
    assert (plan.configs[0].canny, plan.configs[0].augment) == (options[0].preprocess.spec, "rotate")
    assert "too little time to measure" in plan.note and "the statistics' choice" in plan.note
    # measured before, if only briefly: that choice trains
    measured_at(data16, 2, epochs=2)
    plan = auto.plan(budgeted, data16)
    assert len(plan.configs) == 1 and plan.configs[0].canny == options[-1].preprocess.spec
    assert "the choice measured on this data at 2 epochs" in plan.note
    # time enough for every option to reach 3/4 of its epochs: it measures
    monkeypatch.setattr(auto, "_reached", lambda config, options, data: 30.0)
    assert len(auto.plan(budgeted, data16).configs) == len(options)


def test_how_far_a_budget_takes_the_options_comes_from_the_step_estimate(data16, monkeypatch):
    from explorer.execution import estimates

    # every step a second: 40 epochs of one option alone take `alone` seconds
    monkeypatch.setattr(estimates, "step_seconds", lambda *a: 1.0)
    monkeypatch.setattr(auto, "usable_cpus", lambda: 1)
    steps = SMALL.split(len(data16.source))[0] // SMALL.batch_size
    alone = 40 * steps * estimates.OVERHEAD
    config = replace(SMALL, epochs=40, time_budget=alone / 2)
    assert auto.asked_epochs(config, data16) == 20
    options = auto.shortlist(SMALL, data16)
    assert auto._reached(config, len(options), data16) == pytest.approx(20 / len(options))


def test_a_measurement_trains_every_option_ships_the_validators_pick_and_keeps_it(data16, tmp_path):
    m = Measurement(SMALL, data16, tmp_path / "runs", workers=1)
    events = list(m.events())
    assert isinstance(events[0], MeasureStarted) and len(events[0].options) == len(m.plan.options) >= 4
    assert {e.index for e in events if isinstance(e, Done)} == set(range(len(m.plan.options)))
    end = events[-1]
    assert isinstance(end, MeasureEnded) and end.kind == "done" and end.folder in m.folders
    decision = end.decision
    # one epoch: the selected one
    scores = [runs.read_run(f).metrics[-1]["validators"]["im"] for f in m.folders]
    assert decision["chosen"]["index"] == max(range(len(scores)), key=lambda i: (scores[i], -i))
    assert decisions.load(data16.fingerprint, "dann")["chosen"] == decision["chosen"]
    written = json.loads((end.folder / "config.json").read_text())["auto"]
    assert len(written["tried"]) == len(m.plan.options) and written["asked"] == {
        "canny": "auto",
        "augment": "auto",
    }
    assert all((f / "last.pt").is_file() for f in m.folders)  # every option stays, like any run
    assert len(auto.plan(SMALL, data16).configs) == 1  # the next run reuses it


def test_an_option_that_diverges_is_dropped_by_name_and_the_others_go_on(data16, tmp_path):
    plan = auto.plan(SMALL, data16)
    bad = replace(plan.configs[1], lamb=1e38)  # the domain term overflows: the loss is not finite
    plan = auto.Plan([plan.configs[0], bad], plan.options[:2], None, plan.note)
    events = list(Measurement(SMALL, data16, tmp_path / "runs", workers=1, plan=plan).events())
    failed = [e for e in events if isinstance(e, Failed)]
    assert [e.index for e in failed] == [1] and "diverged" in failed[0].message
    end = events[-1]
    assert end.decision["chosen"]["index"] == 0 and plan.options[1].label in end.decision["dropped"]


def test_a_stop_stops_every_option_and_decides_nothing(data16, tmp_path):
    stop, events = threading.Event(), []
    for e in Measurement(replace(SMALL, epochs=50), data16, tmp_path / "runs", workers=1).events(stop):
        events.append(e)
        stop.set()
    assert events[-1].kind == "stopped" and events[-1].decision is None
    assert decisions.load(data16.fingerprint, "dann") is None


def test_the_twin_of_a_measured_run_is_one_run_with_the_runs_own_choice(data16):
    from explorer.execution.keep import source_only_twin
    from explorer.store import cache

    options = auto.shortlist(SMALL, data16)
    # the winner of a measurement, as its config.json records it: the option's preprocessing and
    # augmentation, and what was left to auto
    won = next(o for o in options if o.preprocess.spec is not None and o.augment == "none")
    measured = {
        **won.config(replace(SMALL, seed=3)).to_dict(),
        "data_fingerprint": data16.fingerprint,
        "device_type": "cpu",
        "preprocess": won.preprocess.to_dict(),
        "auto": {"asked": {"canny": "auto", "augment": "auto"}},
    }
    config, folder = source_only_twin(measured)
    assert decisions.load(data16.fingerprint, "source-only") is None  # the twin measures nothing
    assert (config.canny, config.augment, config.method) == (won.preprocess.spec, "none", "source-only")
    assert not config.measured and (config.seed, config.epochs, config.width) == (
        3,
        SMALL.epochs,
        SMALL.width,
    )
    assert folder == cache.run_dir(config.run_id(data16.fingerprint, "cpu"))
    # a choice measured for source-only runs started by hand is not the twin's
    other = next(i for i, o in enumerate(options) if o != won)
    scores = [history(0.1)] * len(options)
    scores[other] = history(0.9)
    decisions.save(auto.decide(options, scores, data16.fingerprint, "source-only"))
    assert source_only_twin(measured) == (config, folder)
    # a lone run of auto (nothing measured) trained its recorded preprocessing with rotation
    lone = SMALL.to_dict() | {k: measured[k] for k in ("data_fingerprint", "device_type", "preprocess")}
    config, _ = source_only_twin(lone)
    assert (config.canny, config.augment) == (won.preprocess.spec, UNMEASURED_AUGMENT)
