"""AppTest tests of the Canny Tuner and Train DANN pages: sliders, a short run, stop, comparison."""

import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from explorer.dann.validators import DEFAULT, named
from tests.app.conftest import APP, button, compare_table, page, small_run, unexplained, wait_for
from tests.conftest import png_bytes

PREFERS = f"**Without labels**, the validator ({named(DEFAULT)}) prefers"


def run_folders():
    """The run folders in this test's cache, each with its history (the epochs it finished)."""
    from explorer.store import runs
    from explorer.store.home import subdir

    return {d: runs.read_run(d).metrics for d in subdir("runs").iterdir() if (d / "config.json").is_file()}


def kept_epoch(folder) -> int:
    """The epoch of the run's last.pt: where a resume goes on from."""
    from explorer.store import checkpoints

    return checkpoints.load(folder / "last.pt")["epoch"]


def test_canny_sliders_change_the_preview(at):
    page(at, "canny")
    assert not at.exception and not at.error
    before = [i.value for i in at.image]
    caption = [c.value for c in at.caption if c.value.startswith("At ")][0]
    at.slider(key="canny_range").set_value((30, 60)).run()
    after_caption = [c.value for c in at.caption if c.value.startswith("At ")][0]
    assert "At 30/60" in after_caption and after_caption != caption
    assert [i.value for i in at.image][0] != before[0]  # the source grid was redrawn
    at.slider(key="canny_range").set_value((200, 200)).run()
    assert "must be above the low one" in at.error[0].value


def test_canny_upload_goes_through_the_pipeline(at):
    page(at, "canny")
    at.file_uploader(key="canny_upload").upload(
        "photo.png", png_bytes((200, 100, 50), (64, 48)), "image/png"
    ).run()
    assert not at.exception and any("photo.png (64x48 RGB)" in c for i in at.image for c in i.captions)
    at.file_uploader(key="canny_upload").set_value(("junk.png", b"not an image", "image/png")).run()
    assert "junk.png: not an image" in at.error[0].value


def test_short_run_reports_finishes_and_appears_in_comparison(at):
    page(at, "train")
    assert not at.exception
    small_run(at).run()
    button(at, "Start training").click().run()
    assert at.session_state.current_run
    wait_for(at, lambda a: any("finished" in s.value for s in a.success))
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    shipped = float(values["target accuracy"].rstrip("%"))
    assert 0 <= shipped <= 100 and float(values["domain classifier accuracy"].rstrip("%")) >= 0
    # one number for the accuracy the run ships: the tile, the comparison and the validators' table agree
    table = compare_table(at)
    assert table["target accuracy"].tolist() == [shipped]
    assert any(f"Target accuracy {values['target accuracy']} at epoch" in c.value for c in at.caption)
    assert not unexplained(at), unexplained(at)
    assert table["epochs"].tolist()[0] == 2 and table["run"].tolist()[0].startswith("dann λ=")
    assert any(b.label == "Submission CSV (id,label)" for b in at.get("download_button"))
    # switching pages and coming back shows the run again
    page(at, "data")
    page(at, "train")
    assert any("finished" in s.value for s in at.success)
    # after a restart, the same address (session id) finds the run in the cache; another session does not
    sid = at.query_params["sid"]
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["sid"] = sid
    again.run()
    page(again, "train")
    assert compare_table(again)["epochs"].tolist() == [2]
    stranger = page(AppTest.from_file(APP, default_timeout=120).run(), "train")
    assert len(stranger.dataframe) == 0 and stranger.query_params["sid"] != sid


def test_a_stop_keeps_the_finished_epochs_and_the_cache_shows_them(at):
    page(at, "train")
    small_run(at, epochs=500).run()
    button(at, "Start training").click().run()
    wait_for(at, lambda a: len(a.metric) > 0)  # an epoch has finished: it is running
    button(at, "Stop").click().run()
    wait_for(at, lambda a: any("Stopped by request" in w.value for w in a.warning), timeout=30)
    assert not at.exception
    said = next(w.value for w in at.warning if "Stopped by request" in w.value)
    kept = int(re.search(r"the checkpoint of epoch (\d+) is kept", said).group(1))
    ((folder, history),) = run_folders().items()
    assert kept >= 1 and len(history) == kept and kept_epoch(folder) == kept  # what the page says is on disk
    # after a restart, the same address finds the stopped run in the cache, with the epochs it finished
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["sid"] = at.query_params["sid"]
    page(again.run(), "train")
    assert compare_table(again)["epochs"].tolist() == [kept]
    assert any(f"{kept} of 500 epochs" in c.value for c in again.caption)


def test_tuned_thresholds_reach_the_training_config(at):
    page(at, "canny")
    at.slider(key="canny_range").set_value((120, 240)).run()
    button(at, "Use these thresholds for training instead").click().run()
    page(at, "train")
    assert "120/240" in at.radio(key="t_prep").value
    small_run(at, epochs=1).run()
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("finished" in s.value for s in a.success))
    assert compare_table(at)["preprocessing"].tolist()[0] == "edges on the source 120/240"


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda at: at.number_input(key="t_batch").set_value(4000), "larger than the data"),
        (lambda at: at.number_input(key="t_lamb").set_value(-0.5), "lambda must be >= 0"),
    ],
)
def test_bad_combinations_are_refused_in_the_form(at, setup, message):
    page(at, "train")
    setup(at).run()
    button(at, "Start training").click().run()
    assert message in at.error[0].value and "current_run" not in at.session_state


def test_feature_space_draws_both_plots_for_a_short_run(at):
    page(at, "features")
    assert any("No runs on this dataset yet" in i.value for i in at.info)
    page(at, "train")
    small_run(at, epochs=2).run()
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("finished" in s.value for s in a.success))
    page(at, "features")
    at.number_input(key="f_n").set_value(200).run()
    assert not at.exception and not at.error
    assert len(at.get("vega_lite_chart")) == 2  # epochs 0 and 2, each a by-class | by-domain pair
    labels = [m.label for m in at.metric]
    assert (
        labels.count("domain separation") == 2
        and "target accuracy" in labels
        and "same-class neighbours" in labels
    )
    # the abbreviations a paper would use stay in the tooltips, beside what they mean
    helps = {m.label: m.proto.help for m in at.metric}
    assert helps["domain separation"].startswith("domain separation (proxy A-distance): how well")
    assert helps["same-class neighbours"].startswith("same-class neighbours (5-NN class agreement)")
    assert all(m.value.endswith("%") for m in at.metric if m.label == "target accuracy")
    at.number_input(key="f_perp").set_value(150.0).run()
    assert "Perplexity 150 is too large" in at.error[0].value

    # The training movie: one frame per saved epoch; the slider moves between them and computes nothing again.
    at.number_input(key="f_perp").set_value(30.0).run()
    at.button_group(key="f_view").set_value("Training movie").run()
    assert not at.exception and not at.error
    slider = at.select_slider(key="movie_epoch")
    assert slider.options == ["0", "1", "2"] and slider.value == 0
    assert any("3 frames · 400 points each · 3 frame(s) computed" in c.value for c in at.caption)
    shown = {m.label: m.value for m in at.metric}
    assert shown["epoch"] == "0" and 0 <= float(shown["domain mixing"]) and "target accuracy" in shown
    slider.set_value(2).run()
    assert {m.label: m.value for m in at.metric}["epoch"] == "2"
    assert any("changed their predicted class since epoch 1" in c.value for c in at.caption)
    at.select_slider(key="movie_epoch").set_value(0).run()
    assert any("3 frames · 400 points each · from the cache" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 2  # the frame, and the numbers per frame under it

    # Play first shows the frame it was pressed on, then steps; slider, counter and picture show one frame.
    button(at, "Play").click().run()
    epoch = lambda: {m.label: m.value for m in at.metric}["epoch"]  # noqa: E731
    assert (
        epoch() == "0"
        and at.select_slider(key="movie_epoch").value == 0
        and any(c.value == "frame 1 of 3" for c in at.caption)
    )
    time.sleep(0.6)  # most of a tick of the player's fragment
    at.run()
    assert (
        epoch() == "1"
        and at.select_slider(key="movie_epoch").value == 1
        and any(c.value == "frame 2 of 3" for c in at.caption)
    )


def test_a_second_session_waits_visibly_for_the_device(at):
    page(at, "train")
    small_run(at, epochs=500).run()
    button(at, "Start training").click().run()
    wait_for(at, lambda a: len(a.metric) > 0)
    other = page(AppTest.from_file(APP, default_timeout=120).run(), "train")
    small_run(other, epochs=1).run()
    button(other, "Start training").click().run()
    assert any("waiting for this server's CPU: 1 run(s) ahead of it, about " in i.value for i in other.info)
    assert not any("waiting" in i.value for i in at.run().info)  # neither sees the other's run
    next(b for b in at.button if b.label == "Stop").click().run()
    wait_for(other, lambda a: any("finished" in s.value for s in a.success))


def test_layer_activations_compares_a_dann_run_with_its_random_start(at, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights on this machine
    page(at, "train")
    small_run(at, epochs=1).run()
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("finished" in s.value for s in a.success))
    page(at, "activations")
    # the most informative pair available offline: the run against its own epoch 0, chosen by default
    assert at.selectbox(key="a_model").value.startswith("DANN run")
    assert not at.exception and not at.error
    assert at.subheader[0].value == "source image 0"
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert (
        titles[0].startswith("**the feature extractor of run")
        and titles[1] == "**the same run at epoch 0 (its random start)**"
    )
    assert any("the most informative pair on this machine" in c.value for c in at.caption)
    layer = at.selectbox(key="a_layer")
    # width 0.125: 8 filters
    assert layer.value == "conv.0" and "8 maps of 32x32" in layer.format_func(layer.value)
    captions = [c for i in at.image for c in i.captions]
    # both models' first-layer kernels
    assert sum("conv.0 weights: 8 kernels of 3x3" in c for c in captions) == 2
    assert sum("conv.0: maps 0–7" in c for c in captions) == 2
    other = next(s for s in at.selectbox if s.key and s.key.startswith("a_other_"))
    other.set_value("nothing").run()
    assert sum("kernels" in c for i in at.image for c in i.captions) == 1  # one model again


def test_clear_my_cached_runs_removes_only_mine(at):
    from explorer.store import cache, runs
    from explorer.store.home import subdir

    page(at, "train")
    small_run(at, epochs=1).run()
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("finished" in s.value for s in a.success))
    other = subdir("runs") / "someone-elses"
    other.mkdir()
    (other / "last.pt").write_bytes(b"x")
    runs.add_owner(other, "f" * 32)
    assert any("Checkpoint cache:" in c.value for c in at.caption)
    button(at, "Remove them").click().run()  # inside the "Clear my cached runs" popover
    # no comparison left
    assert not at.exception and not any("epochs" in d.value.columns for d in at.dataframe)
    assert [p.name for p in subdir("runs").iterdir()] == ["someone-elses"] and cache.usage() > 0


def fake_run(config, fingerprint, owner, judge_scores, target_accs):
    """A finished run in the cache, as the trainer leaves it, with the given validator scores."""
    import json

    from explorer.dann.validators import DEFAULT, JUDGE
    from explorer.store import cache, runs

    run_id = config.run_id(fingerprint, "cpu")
    d = cache.run_dir(run_id)
    d.mkdir(parents=True)
    info = {
        "run_id": run_id,
        "data_fingerprint": fingerprint,
        "dataset": "builtin",
        "classes": [str(i) for i in range(10)],
        "device_type": "cpu",
        "preprocess": {"edges": "none", "low": 100, "high": 200, "invert": False, "label": "no edges"},
    }
    (d / "config.json").write_text(json.dumps(config.to_dict() | info))
    rows = [
        {
            "kind": "epoch",
            "stage": "dann",
            "epoch": e + 1,
            "lambda": config.lamb,
            "lr": 1e-3,
            "class_loss": 1.0,
            "domain_loss": 0.6,
            "source_acc": 0.9,
            "domain_acc": 0.6,
            "target_acc": acc,
            "elapsed": e + 1.0,
            "validators": {DEFAULT: score, JUDGE: score},
        }
        for e, (score, acc) in enumerate(zip(judge_scores, target_accs))
    ]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs.add_owner(d, owner)
    return d


def test_dann_worse_than_its_source_only_twin_is_called_out(at):
    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin

    fingerprint, me = load_builtin(32).fingerprint, at.session_state.owner
    # set by hand: its twin is the same options, λ = 0
    dann = TrainConfig(epochs=2, lamb=0.7, canny=None, augment="rotate")
    fake_run(dann, fingerprint, me, [0.50, 0.55], [0.40, 0.42])
    page(at, "train")
    assert any("source-only twin" in i.value for i in at.info)  # no twin yet: offered
    fake_run(
        TrainConfig(epochs=2, lamb=0.7, method="source-only", canny=None, augment="rotate"),
        fingerprint,
        me,
        [0.80, 0.85],
        [0.60, 0.66],
    )
    at.run()
    (warning,) = [w for w in at.warning if "DANN probably hurt" in w.value]
    assert (
        "DANN scores 0.55 against 0.85 for its source-only twin, each at the epoch it ships (epochs 2 and 2)"
        in warning.value
        and "DANN ships 42.0% target accuracy against 66.0% for source-only" in warning.value
    )
    assert "Only target labels can tell for sure" in warning.value
    # the comparison says the same accuracies, with the epoch they come from and the last epoch's apart
    table = compare_table(at)
    assert sorted(table["target accuracy"]) == [42.0, 66.0] and table["at epoch"].tolist() == [2, 2]
    assert not unexplained(at), unexplained(at)


def test_the_overlay_says_an_unfinished_run_is_shown_as_of_the_last_redraw(at):
    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin

    fingerprint, me = load_builtin(32).fingerprint, at.session_state.owner
    # 2 of 5 epochs
    fake_run(TrainConfig(epochs=5, lamb=0.3, canny=None), fingerprint, me, [0.5, 0.6], [0.4, 0.5])
    page(at, "train")
    (note,) = [c.value for c in at.caption if "As of this page's last redraw" in c.value]
    assert "2 of 5 epochs" in note and "This run" in note


def test_the_source_only_twin_trains_with_one_click(at):
    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin

    fingerprint, me = load_builtin(32).fingerprint, at.session_state.owner
    fake_run(TrainConfig(epochs=1, width=0.125, seed=0), fingerprint, me, [0.5], [0.4])
    page(at, "train")
    button(at, "Train the source-only twin").click().run()
    assert not at.session_state.get("current_run")  # the twin is drawn beside its button, not as "This run"
    wait_for(at, lambda a: any("DANN probably" in m.value for m in [*a.warning, *a.success]))
    overlay = at.multiselect(key="t_compare")
    # in the overlay, no reload
    assert any(o.startswith("source-only") for o in overlay.value), (overlay.options, overlay.value)


def test_the_twin_of_a_measured_run_trains_one_run_with_the_runs_choice(at):
    import json

    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin
    from explorer.store import decisions

    fingerprint, me = load_builtin(32).fingerprint, at.session_state.owner
    # the winner of a measurement: no edges, no augmentation, chosen by auto
    folder = fake_run(
        TrainConfig(epochs=3, width=0.125, seed=0, canny=None, augment="none"),
        fingerprint,
        me,
        [0.5] * 3,
        [0.4] * 3,
    )
    config = json.loads((folder / "config.json").read_text())
    asked = {"canny": "auto", "augment": "auto"}
    config["auto"] = {
        "chosen": {"label": "no edges, no augmentation", "canny": None, "augment": "none"},
        "asked": asked,
    }
    (folder / "config.json").write_text(json.dumps(config))
    page(at, "train")
    assert any("only the domain loss differs" in i.value for i in at.info)  # what the twin is, said
    button(at, "Train the source-only twin").click().run()
    seen = []

    def verdict(a):
        seen.extend(p.text for p in a.get("progress") if "the twin of" in p.text)
        return any("DANN probably" in m.value for m in [*a.warning, *a.success])

    wait_for(at, verdict)
    (twin,) = at.session_state.twin_runs.values()
    # one run of the run's epochs, not a measurement of options
    assert twin.total_epochs == 3 and "auto:" not in twin.job.label, twin.job.label
    assert all(re.search(r"epoch \d of 3\b", text) for text in seen), seen
    configs = [json.loads((d / "config.json").read_text()) for d in folder.parent.iterdir()]
    twins = [c for c in configs if c["method"] == "source-only"]
    assert [(c["canny"], c["augment"], c["epochs"]) for c in twins] == [(None, "none", 3)]
    assert decisions.load(fingerprint, "source-only") is None


def test_canny_tuner_shows_auto_and_hands_it_or_thresholds_to_training(at):
    page(at, "canny")
    assert any(i.value.startswith("**auto: ") for i in at.info)
    button(at, "Use these thresholds for training instead").click().run()
    button(at, "Use auto for training (the default)").click().run()
    at.run()  # the page again, with "auto" as the training choice
    assert not at.exception and at.slider(key="canny_range").value == (100, 200)
    page(at, "train")
    assert at.radio(key="t_prep").value.startswith("auto")


def test_a_sweep_fills_its_heat_map_table_and_verdict(at):
    page(at, "train")
    small_run(at, epochs=1)
    at.multiselect(key="s_lambdas").set_value([0.0, 1.0])
    at.multiselect(key="s_canny").set_value(["off", "100/200"]).run()
    assert any("**4 runs**" in c.value for c in at.caption)
    button(at, "Start sweep").click().run()
    wait_for(at, lambda a: any("Sweep finished" in s.value for s in a.success))
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "status" in d.value.columns)
    assert table["status"].tolist() == ["finished"] * 4 and table["λ"].tolist() == ["0", "0", "1", "1"]
    assert table["preprocessing"].tolist() == ["off", "100/200"] * 2
    verdict = " ".join(m.value for m in at.markdown)
    assert PREFERS in verdict and "**With the target's labels**" in verdict
    # the runs are this session's: they are listed for comparison (and so for Feature Space)
    assert len(compare_table(at)) >= 2
    at.segmented_control(key="s_colour").set_value("validator: im").run()
    assert not at.exception


def test_a_sweep_that_cannot_train_says_why(at):
    page(at, "train")
    at.multiselect(key="s_lambdas").set_value([]).run()
    assert any("at least one value for each" in w.value for w in at.warning)
    at.multiselect(key="s_lambdas").set_value([0.0, 1.0])
    at.number_input(key="t_batch").set_value(4000).run()
    assert any("Batch size 4000 is larger than the data" in e.value for e in at.error)
    assert not any(b.label == "Start sweep" for b in at.button)


def test_a_sweep_stops_on_request_and_keeps_what_it_finished(at):
    page(at, "train")
    small_run(at, epochs=300)
    at.multiselect(key="s_lambdas").set_value([0.0, 1.0])
    at.multiselect(key="s_canny").set_value(["off"]).run()
    button(at, "Start sweep").click().run()
    wait_for(at, lambda a: any(run_folders().values()), timeout=120)  # a run has finished an epoch
    button(at, "Stop sweep").click().run()
    wait_for(at, lambda a: any("Sweep stopped" in w.value for w in a.warning), timeout=60)
    assert not at.exception
    table = next(d.value for d in at.dataframe if "status" in d.value.columns)
    partial = table[table["status"] == "partial"]
    assert set(table["status"]) <= {"partial", "not trained"} and len(partial) >= 1
    trained = {f: h for f, h in run_folders().items() if h}
    # every finished epoch is kept: the table's epochs are the runs' histories and their checkpoints
    assert sorted(partial["epochs"]) == sorted(len(h) for h in trained.values())
    assert all(kept_epoch(f) == len(h) >= 1 for f, h in trained.items())
