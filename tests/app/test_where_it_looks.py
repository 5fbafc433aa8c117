"""Feature Space's "Where it looks" view: a DANN run beside its source-only twin, the numbers per
model, the controls, and nothing recomputed when only the number of images shown changes."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import cam_metrics
from explorer.dann.config import TrainConfig
from explorer.dann.trainer import train
from explorer.data.builtin import load_builtin
from explorer.execution.keep import source_only_twin
from explorer.store import cache, runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SID = "feedfacefeedfacefeedfacefeedface"


def _trained(config: TrainConfig, data, run_dir=None) -> runs.RunRecord:
    run_dir = run_dir or cache.run_dir(config.run_id(data.fingerprint, "cpu"))
    train(config, data, run_dir)
    runs.add_owner(run_dir, SID)
    return runs.read_run(run_dir)


@pytest.fixture
def dann_run():
    data = load_builtin(32)
    return _trained(TrainConfig(width=0.125, epochs=1, seed=3, canny=None, augment="none"), data), data


def open_view(run: runs.RunRecord) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["sid"] = SID
    at.query_params["run"] = run.run_id  # the selected run (the twin, trained last, would be the newest)
    at.switch_page("app_pages/features.py").run()
    at.segmented_control(key="f_view").set_value("Where it looks").run()
    assert not at.exception, at.exception
    return at


def test_a_run_without_its_twin_is_shown_alone_and_offers_the_twin(dann_run):
    run, _ = dann_run
    at = open_view(run)
    assert any(b.label == "Train the source-only twin" for b in at.button)
    table = at.dataframe[0].value
    assert list(table["model"]) == ["DANN run", "DANN run"] and list(table["images"]) == ["target", "source"]
    assert any("of its map on the strokes" in m.value for m in at.markdown)


def test_the_run_beside_its_twin_with_numbers_and_nothing_recomputed_for_fewer_images(dann_run, monkeypatch):
    run, data = dann_run
    config, folder = source_only_twin(run.config)
    _trained(config, data, folder)
    calls = []
    real = cam_metrics.look
    monkeypatch.setattr(cam_metrics, "look", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    at = open_view(run)
    table = at.dataframe[0].value
    assert (
        list(table["model"]) == ["DANN run", "source-only twin"] * 2
        and list(table["images"]) == ["target"] * 2 + ["source"] * 2
    )
    assert list(table.columns) == ["model", "images", "on strokes", "even spread", "faithfulness", "accuracy"]
    assert len(calls) == 4  # two models x two domains, all 32 images at once
    layers = at.selectbox(key=f"cam_layer_{run.run_id}")
    # the last conv block by default
    assert layers.value == "feature.conv.18" and layers.options[-1].startswith("block 5")
    layers.set_value("feature.conv.10").run()  # block 3, 8x8: a one-epoch model has evidence there
    assert not at.exception and len(calls) == 8  # another layer: the maps again
    verdict = next(m.value for m in at.markdown if "its source-only twin" in m.value)
    assert "On these 8 target images" in verdict and "looks at the target's strokes" in verdict
    at.slider(key="cam_n").set_value(4).run()
    assert not at.exception and len(calls) == 8  # fewer images shown: nothing computed again
    assert "On these 4 target images" in next(m.value for m in at.markdown if "target images" in m.value)
    at.selectbox(key="cam_method").set_value("scorecam").run()
    assert not at.exception and len(at.dataframe[0].value) == 4
