"""Forward hooks, grids, weights resolution (hub cache, uploads, refusals), the CLI and the page."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.analysis import activations as A
from explorer.cli import main
from explorer.errors import ExplorerError
from explorer.transfer.backbones import WeightsMissing, hub_file, load_backbone, load_state_file
from tests.conftest import png_bytes

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def resnet():
    return load_backbone("resnet18", "random").model


def test_hooks_capture_every_conv_layer_and_leave_nothing_behind(resnet):
    x = A.imagenet_input(np.zeros((224, 224, 3), np.uint8))
    cap = A.capture(resnet, x)
    assert list(cap.maps) == A.conv_layers(resnet) and len(cap.maps) == 20
    assert tuple(cap.maps["conv1"].shape) == (64, 112, 112)
    assert tuple(cap.maps["layer4.1.conv2"].shape) == (512, 7, 7)
    assert tuple(cap.maps["layer2.0.downsample.0"].shape) == (128, 28, 28)
    assert all(not m._forward_hooks for m in resnet.modules())
    assert {
        "layer": "fc",
        "type": "Linear",
        "output shape": "1000",
        "parameters": 513000,
        "trainable": "yes",
    } in cap.summary


def test_hooks_are_removed_when_the_pass_fails(resnet):
    with pytest.raises(RuntimeError):
        A.capture(resnet, torch.zeros(1, 5, 224, 224))  # wrong channel count
    assert all(not m._forward_hooks for m in resnet.modules())


def test_conv1_grid_is_8x8_and_kernels(resnet):
    cap = A.capture(resnet, A.imagenet_input(np.full((224, 224, 3), 128, np.uint8)))
    grid = A.map_grid(cap.maps["conv1"], tile=20, gap=2)
    assert grid.shape == (8 * 22 - 2, 8 * 22 - 2, 3)
    big = A.map_grid(cap.maps["layer4.1.conv2"], start=448, tile=20, gap=2)  # the last page of 512
    assert big.shape == (8 * 22 - 2, 8 * 22 - 2, 3)
    k = A.kernel_grid(A.first_conv(resnet).weight, tile=14, gap=2)
    assert k.shape == (8 * 16 - 2, 8 * 16 - 2, 3)


def test_imagenet_weights_come_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsMissing, match="resnet18-f37072fd.pth"):
        load_backbone("resnet18", "imagenet")
    state = load_backbone("resnet18", "random").model.state_dict()
    path = hub_file("resnet18")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    loaded = load_backbone("resnet18", "imagenet")
    assert loaded.weights.startswith("imagenet:IMAGENET1K_V1")
    assert torch.equal(loaded.model.conv1.weight, state["conv1.weight"])


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-weights",))


def test_wrong_or_hostile_state_dicts_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = load_backbone("resnet50", "random").model.state_dict()
    with pytest.raises(ExplorerError, match="is not a resnet18 state_dict"):
        load_backbone("resnet18", "file", other)
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"conv1.weight": Evil()}, protocol=2))
    with pytest.raises(ExplorerError, match="refused to load it"):
        load_state_file(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned-by-weights").exists()
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ExplorerError, match="holds no state_dict"):
        load_state_file(tmp_path / "list.pth")


def activations_cli(img: Path, out: Path | str, *options: str) -> int:
    """`explorer activations` of one image with random weights; its exit code."""
    return main(["activations", "--image", str(img), "--weights", "random", *options, "--out", str(out)])


def test_cli_activations(tmp_path, capsys):
    img = tmp_path / "cat.png"
    img.write_bytes(png_bytes((120, 80, 40), (300, 200)))
    assert activations_cli(img, tmp_path / "g.png", "--layer", "layer1.0.conv1") == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        out["layer"] == "layer1.0.conv1"
        and out["channels"] == 64
        and out["weights"] == "random (not pretrained)"
    )
    assert (tmp_path / "g.png").is_file()
    assert activations_cli(img, "x.png", "--layer", "nope") == 2
    assert "has no conv layer 'nope'" in capsys.readouterr().err


def test_page_upload_gets_the_grid_and_bad_files_keep_the_last_result(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/activations.py").run()
    # offline, it opens on what works here: random weights, labelled
    assert not at.exception and not at.warning
    assert at.radio(key="a_weights").value == "Random (not pretrained)"
    assert any("not on this machine and this server does not download" in c.value for c in at.caption)
    assert at.subheader[0].value == "source image 0 · random (not pretrained)"
    at.file_uploader(key="a_image").upload("dog.png", png_bytes((10, 200, 30), (320, 240)), "image/png").run()
    assert not at.exception and not at.error
    assert at.subheader[0].value == "dog.png (320x240 RGB) · random (not pretrained)"
    assert any("conv1: maps 0–63" in c for i in at.image for c in i.captions)
    at.file_uploader(key="a_image").set_value(("broken.png", b"not an image", "image/png")).run()
    assert "broken.png: not an image" in at.error[0].value and "previous result stays" in at.error[0].value
    assert at.subheader[0].value.startswith("dog.png")
    at.selectbox(key="a_layer").set_value("layer3.0.conv1").run()
    assert any("layer3.0.conv1: maps 0–63" in c for i in at.image for c in i.captions)


def test_state_dict_with_odd_keys_and_missing_files(tmp_path):
    torch.save({1: torch.zeros(2)}, tmp_path / "intkeys.pth")
    with pytest.raises(ExplorerError, match="holds no state_dict"):
        load_state_file(tmp_path / "intkeys.pth")
    with pytest.raises(ExplorerError, match="Weights file not found"):
        load_state_file(tmp_path / "nope.pth")


def test_cli_start_out_of_range(tmp_path, capsys):
    img = tmp_path / "x.png"
    img.write_bytes(png_bytes((1, 2, 3), (64, 64)))
    assert activations_cli(img, tmp_path / "g.png", "--start", "100") == 2
    assert "--start must be 0 to 63" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg16", "dann"])
def test_kernel_grid_has_one_tile_per_output_channel(name):
    """Tiles are 56 px, 3 px apart, 8 a row: counting the non-background tile cells counts the kernels."""
    from explorer.dann.models import build
    from explorer.data.grids import BACKGROUND

    model = build(1, 10, 0.25)["feature"] if name == "dann" else load_backbone(name, "random").model
    weight = A.first_conv(model).weight
    image = A.kernel_grid(weight)
    rows = -(-weight.shape[0] // 8)
    assert image.shape == (rows * 59 - 3, 8 * 59 - 3, 3)
    cells = [image[r * 59 : r * 59 + 56, c * 59 : c * 59 + 56] for r in range(rows) for c in range(8)]
    drawn = sum(1 for cell in cells if (cell != BACKGROUND).any())
    assert drawn == weight.shape[0] == (16 if name == "dann" else 64)


def test_kernel_change_per_filter_on_hand_made_kernels():
    before = torch.zeros(4, 1, 2, 2)
    before[:, 0, 0, 0] = torch.tensor([1.0, 2.0, 4.0, 3.0])  # kernel lengths 1, 2, 4, 3
    after = before.clone()
    after[1, 0, 1, 1] = 2.0  # moved by 2, its length 2: 100%
    after[2] *= 0.5  # 4 -> 2: moved by 2, its length 4: 50%
    after[3, 0, 0, 0] = -3.0  # turned round: moved by 6, its length 3: 200%
    moved = A.kernel_change(after, before)
    assert np.allclose(moved.per_filter, [0.0, 1.0, 0.5, 2.0])
    assert moved.median == pytest.approx(0.75) and moved.most == (3, pytest.approx(2.0))
    assert moved.whole == pytest.approx((4 + 4 + 36) ** 0.5 / (1 + 4 + 16 + 9) ** 0.5)
    assert A.kernel_change(before, before).most[1] == 0 and A.kernel_change(before, before).whole == 0
    zero = torch.zeros(2, 1, 1, 1)
    assert list(A.kernel_change(torch.tensor([[[[0.0]]], [[[1.0]]]]), zero).per_filter) == [0.0, float("inf")]
    with pytest.raises(ExplorerError, match="cannot be compared"):
        A.kernel_change(torch.zeros(4, 3, 3, 3), torch.zeros(4, 1, 3, 3))


def test_difference_grid_is_grey_where_nothing_changed_at_one_scale():
    before = torch.zeros(2, 3, 2, 2)
    after = before.clone()
    after[1, 0] = 0.5  # filter 1's red channel up by 0.5, the largest change: full red
    grid, scale = A.difference_grid(after, before, cols=2, tile=4, gap=1)
    assert scale == pytest.approx(0.5) and grid.shape == (4, 9, 3)
    assert (grid[:, :4] == 128).all()  # filter 0: unchanged, grey
    assert (grid[:, 5:] == [255, 128, 128]).all()  # filter 1: +scale in red, unchanged green and blue


def test_a_run_input_is_prepared_as_the_run_prepared_that_domain():
    from explorer.data.preprocess import Preprocess

    photo = np.zeros((32, 32, 3), np.uint8)
    photo[8:24, 8:24] = (200, 120, 40)  # a square: Canny draws its outline
    run = A.LoadedExtractor(torch.nn.Identity(), 1, 32, Preprocess("source", 100, 200))
    source, target = A.dann_input(photo, run, "source"), A.dann_input(photo, run, "target")
    assert source.shape == target.shape == (1, 1, 32, 32)
    assert set(source.unique().tolist()) == {0.0, 1.0} and 0 < source.mean() < 0.25  # edges, thin
    assert source[0, 0, 16, 16] == 0 and target[0, 0, 16, 16] > 0.5  # grey: the square's inside stays
    assert A.input_step(run.preprocess, "source", False) == "edges (Canny 100/200)"
    assert A.input_step(run.preprocess, "target", False) == "grey"
    inverted = Preprocess("source", 50, 100, invert=True)
    assert A.input_step(inverted, "source", False) == "edges (Canny 50/100), inverted"
    assert A.input_step(Preprocess("both", 150, 300), "target", False) == "edges (Canny 150/300)"
    colour = A.LoadedExtractor(torch.nn.Identity(), 3, 32, Preprocess("none"))
    assert A.dann_input(photo, colour, "source").shape == (1, 3, 32, 32)
    assert A.input_step(colour.preprocess, "source", True) == "colour, unchanged"
