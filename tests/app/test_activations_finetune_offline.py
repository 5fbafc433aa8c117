"""Layer Activations and Transfer Fine-tune on a machine without the ImageNet file: each opens on
something that works here, says in one line what ImageNet needs (a Download button where downloads
are allowed; where the server forbids them, the file and the hub cache to put it in, never this
server's own path), and never calls random weights pretrained. A DANN run trained on Canny edges is
shown as it saw its input, beside its epoch-0 start, with how far its first kernels moved."""

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.analysis import activations as A
from explorer.dann.config import TrainConfig
from explorer.dann.predict import load_for_prediction
from explorer.dann.trainer import train
from explorer.data.builtin import load_builtin
from explorer.store import cache, runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SID = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """No ImageNet file in the torch hub cache (and, from tests/conftest.py, downloads off)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def open_page(name: str, sid: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if sid:
        at.query_params["sid"] = sid
    return at.switch_page(f"app_pages/{name}.py").run()


def offline_line(at, name: str = "resnet18") -> str:
    (line,) = [c.value for c in at.caption if f"ImageNet weights for {name}" in c.value]
    return line


def honest(at) -> None:
    """Every "pretrained" on the page is "not pretrained": random weights are never called pretrained."""
    for element in (*at.title, *at.subheader, *at.markdown, *at.caption, *at.info, *at.warning):
        assert "pretrained" not in element.value.replace("not pretrained", ""), element.value


def captions(at) -> list[str]:
    return [c for i in at.image for c in i.captions]


def test_layer_activations_opens_offline_on_random_resnet18(no_hub):
    at = open_page("activations")
    assert not at.exception and not at.error and not at.warning
    assert (
        at.selectbox(key="a_model").value == "resnet18"
        and at.radio(key="a_weights").value == "Random (not pretrained)"
    )
    line = offline_line(at)
    assert "not on this machine and this server does not download" in line
    assert "`resnet18-f37072fd.pth` into `$TORCH_HOME/hub/checkpoints/`" in line and str(no_hub) not in line
    # the server forbids it: no button that cannot work
    assert not [b for b in at.button if b.label == "Download"]
    assert at.subheader[0].value == "source image 0 · random (not pretrained)"
    assert any("conv1: maps 0–63" in c for c in captions(at))
    assert "Input: 224x224, centre crop, resized, normalised with ImageNet's mean and std." in [
        c.value for c in at.caption
    ]
    honest(at)


def test_fine_tune_opens_offline_on_random_weights_with_start_enabled(no_hub):
    at = open_page("finetune")
    assert not at.exception and not at.error and not at.warning
    assert at.radio(key="ft_weights").value == "Random (not pretrained)"
    assert not next(b for b in at.button if b.label == "Start fine-tuning").disabled
    assert any(
        c.value.startswith("Weights in use: **random (not pretrained)** (its features are random")
        for c in at.caption
    )
    assert "this server does not download" in offline_line(at)
    honest(at)
    at.selectbox(key="ft_backbone").set_value("vgg16").run()  # another backbone: its own file named
    assert (
        "`vgg16-397923af.pth`" in offline_line(at, "vgg16")
        and at.radio(key="ft_weights").value == "Random (not pretrained)"
    )
    assert not at.exception and not at.error and not at.warning


def test_the_download_is_offered_where_allowed_and_never_fetched_unasked(no_hub, monkeypatch):
    monkeypatch.setenv("EXPLORER_ALLOW_DOWNLOADS", "1")
    at = open_page("finetune")
    assert not at.exception and not at.error and not at.warning
    assert "need a one-time download (45 MB) into the torch hub cache" in offline_line(at)
    assert [b for b in at.button if b.label == "Download"] and not (no_hub / "hub" / "checkpoints").exists()
    at.toggle(key="allow_downloads").set_value(False).run()  # the sidebar's switch, for this session
    assert "turn on *Allow weight downloads* in the sidebar" in offline_line(at)
    assert not [b for b in at.button if b.label == "Download"] and not at.warning
    assert not next(b for b in at.button if b.label == "Start fine-tuning").disabled
    honest(at)


def test_a_canny_run_shows_its_edges_and_how_far_its_kernels_moved_from_epoch_0(no_hub):
    data = load_builtin(32)
    config = TrainConfig(width=0.125, epochs=2, canny=(100, 200), augment="none", seed=11)
    run_dir = cache.run_dir(config.run_id(data.fingerprint, "cpu"))
    train(config, data, run_dir)
    runs.add_owner(run_dir, SID)
    label = runs.read_run(run_dir).label
    at = open_page("activations", SID)
    assert not at.exception and not at.error and not at.warning
    assert at.selectbox(key="a_model").value == f"DANN run: {label}"
    titles = [m.value for m in at.main.markdown if m.value.startswith("**")]
    assert titles[:2] == [
        f"**the feature extractor of run {label}, epoch 2**",
        "**the same run at epoch 0 (its random start)**",
    ]
    assert "Input: 32x32, edges (Canny 100/200), as the run's preprocessing of source images." in [
        c.value for c in at.caption
    ]
    seen = at.session_state["a_last"][0]  # the picture drawn under that caption
    # Canny's edges, not the grey photo
    assert seen.shape == (32, 32, 1) and set(np.unique(seen).tolist()) == {0, 255}
    after, before = (
        A.first_conv(load_for_prediction(run_dir / f, torch.device("cpu"))[0]["feature"]).weight
        for f in ("last.pt", "epoch_0000.pt")
    )
    moved = A.kernel_change(after, before)
    i, most = moved.most
    (number,) = [m.value for m in at.markdown if m.value.startswith("How far each conv.0 kernel moved")]
    assert (
        f"median **{moved.median:.1%}**, max **{most:.1%}** (filter {i}); the whole layer {moved.whole:.1%}."
        in number
    )
    assert moved.median > 0.001  # two epochs moved them: the number is not a constant
    assert any(
        c.startswith("one scale for all 8: grey = unchanged, lighter = up, darker = down (±")
        for c in captions(at)
    )
    honest(at)
