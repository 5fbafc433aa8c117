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
    assert {"layer": "fc", "type": "Linear", "output shape": "1000", "parameters": 513000, "trainable": "yes"} in cap.summary


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


def test_cli_activations(tmp_path, capsys):
    img = tmp_path / "cat.png"
    img.write_bytes(png_bytes((120, 80, 40), (300, 200)))
    assert (
        main(["activations", "--image", str(img), "--weights", "random", "--layer", "layer1.0.conv1", "--out", str(tmp_path / "g.png")])
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["layer"] == "layer1.0.conv1" and out["channels"] == 64 and out["weights"] == "random (not pretrained)"
    assert (tmp_path / "g.png").is_file()
    assert main(["activations", "--image", str(img), "--weights", "random", "--layer", "nope", "--out", "x.png"]) == 2
    assert "has no conv layer 'nope'" in capsys.readouterr().err


def test_page_upload_gets_the_grid_and_bad_files_keep_the_last_result(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/activations.py").run()
    assert "not on this machine" in at.warning[0].value and not at.exception  # offline, said plainly
    assert len(at.image) == 0  # nothing drawn with weights the user did not choose
    at.radio(key="a_weights").set_value("Random (not pretrained)").run()
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
    assert main(["activations", "--image", str(img), "--weights", "random", "--start", "100", "--out", str(tmp_path / "g.png")]) == 2
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
