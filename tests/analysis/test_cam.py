"""Class-activation maps: a model with a known answer, the stroke and deletion numbers on hand-made
maps, hooks and memory, refusals, the picture."""

import gc
import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from explorer.analysis import cam as C
from explorer.analysis import cam_metrics as M
from explorer.analysis.cam_picture import cam_grid, side_by_side
from explorer.errors import ExplorerError

QUADRANTS = {
    "top-left": (slice(0, 8), slice(0, 8)),
    "top-right": (slice(0, 8), slice(8, 16)),
    "bottom-left": (slice(8, 16), slice(0, 8)),
    "bottom-right": (slice(8, 16), slice(8, 16)),
}


class QuadrantNet(nn.Module):
    """Class 0 = "the quadrant is bright", class 1 = "the quadrant is dark": the logits are the means,
    over one quadrant only, of a bright-detector and a dark-detector channel. The rest of the image
    cannot change the answer."""

    def __init__(self, quadrant: str):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.MaxPool2d(2))  # 16 px -> (2, 8, 8)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.features[0].bias.copy_(torch.tensor([-0.4, 0.6]))  # bright: x > 0.4; dark: x < 0.6
        rows, cols = QUADRANTS[quadrant]
        self.rows, self.cols = slice(rows.start // 2, rows.stop // 2), slice(cols.start // 2, cols.stop // 2)

    def forward(self, x):
        a = self.features(x)
        return 4 * a[:, :, self.rows, self.cols].mean((2, 3))


def _images(quadrant: str, n: int = 6) -> torch.Tensor:
    """Dim noise everywhere (which the dark detector sees), the quadrant bright: class 0 by the quadrant."""
    x = 0.1 + 0.2 * torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    rows, cols = QUADRANTS[quadrant]
    x[:, :, rows, cols] = 0.8 + 0.2 * torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    return x


@pytest.mark.parametrize("method", C.METHODS)
@pytest.mark.parametrize("quadrant", list(QUADRANTS))
def test_the_map_of_a_model_decided_by_one_quadrant_sits_in_that_quadrant(method, quadrant):
    model, x = QuadrantNet(quadrant), _images(quadrant)
    result = C.cams(model, x, method, "features")
    assert result.layer == "features" and result.maps.shape == (6, 16, 16)
    assert (result.predicted == 0).all() and torch.allclose(result.probs.sum(1), torch.ones(6))
    rows, cols = QUADRANTS[quadrant]
    inside = result.maps[:, rows, cols].sum((1, 2)) / result.maps.sum((1, 2))
    assert (inside > 0.8).all(), inside
    assert float(result.maps.min()) == 0.0 and float(result.maps.amax((1, 2)).min()) == 1.0


def test_the_default_layer_is_the_last_with_a_picture_and_a_bad_name_lists_the_good_ones():
    model = C.DannClassifier(_hw())
    names = C.layer_names(model, (1, 32, 32))
    # block 5's ReLU, 2x2 before its pooling
    assert names[0] == "feature.conv.0" and names[-1] == "feature.conv.18"
    assert C.layer_shapes(model, (1, 32, 32))["feature.conv.18"][1:] == (2, 2)
    assert C.cams(model, torch.rand(2, 1, 32, 32)).layer == "feature.conv.18"
    assert C.cams(model, torch.rand(2, 1, 32, 32), layer="feature.conv.14").layer == "feature.conv.14"
    with pytest.raises(ExplorerError, match="feature.conv.0, feature.conv.1, .*feature.conv.18") as err:
        C.cams(model, torch.rand(2, 1, 32, 32), layer="layer4")
    assert "'layer4'" in str(err.value) and "feature.conv.19" not in str(err.value)  # 1x1: no picture
    with pytest.raises(ExplorerError, match="gradcam, scorecam"):
        C.cams(model, torch.rand(2, 1, 32, 32), method="lime")
    assert all(not _hooks(m) for m in model.modules())


def _hw():
    from explorer.dann.models import build

    torch.manual_seed(0)
    return build(1, 10, 0.125)


def _hooks(module: nn.Module) -> list:
    return [
        *module._forward_hooks.values(),
        *module._forward_pre_hooks.values(),
        *module._backward_hooks.values(),
    ]


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on torch's deprecated module attributes warns
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


@pytest.mark.parametrize("method", C.METHODS)
def test_no_hook_is_left_and_memory_does_not_grow_over_50_calls(method):
    model, x = C.DannClassifier(_hw()).eval(), torch.rand(4, 1, 32, 32)
    C.cams(model, x, method)  # warm up: caches torch fills once
    before = _live_tensors()
    for _ in range(50):
        C.cams(model, x, method, "feature.conv.14")
        assert all(not _hooks(m) for m in model.modules())
    assert _live_tensors() <= before + 5
    assert all(p.grad is None for p in model.parameters())  # maps take no parameter gradients


def test_hooks_are_removed_when_the_call_fails_inside_the_extractor(monkeypatch):
    model = C.DannClassifier(_hw())

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(C.GradCAM, "__call__", broken)
    with pytest.raises(RuntimeError, match="boom"):
        C.cams(model, torch.rand(2, 1, 32, 32), "gradcam")
    assert all(not _hooks(m) for m in model.modules()) and model.training  # and its mode restored


def test_stroke_share_is_one_on_the_glyph_and_zero_on_the_background():
    img = torch.zeros(1, 1, 16, 16)
    img[0, 0, 4:12, 7:9] = 1.0  # a white bar on black
    glyph = M.glyph_mask(img)
    assert glyph.sum() == 16 and glyph[0, 4:12, 7:9].all()
    on, off = img[:, 0].clone(), 1 - img[:, 0]
    assert M.stroke_share(on, glyph).tolist() == [1.0] and M.stroke_share(off, glyph).tolist() == [0.0]
    half = on.clone()
    half[0, 0, 0] = 16.0  # as much mass on one background pixel as on the whole glyph
    assert M.stroke_share(half, glyph).item() == pytest.approx(0.5)
    assert math.isnan(M.stroke_share(torch.zeros(1, 16, 16), glyph).item())  # no evidence: no share


def test_the_glyph_is_found_in_both_polarities_and_in_colour():
    white_on_black = torch.zeros(2, 1, 16, 16)
    white_on_black[:, :, 3:13, 5:7] = 0.9
    black_on_white = 1 - white_on_black
    colour = black_on_white.repeat(1, 3, 1, 1) * torch.tensor([0.9, 0.8, 1.0]).view(1, 3, 1, 1)
    for images in (white_on_black, black_on_white, colour):
        glyph = M.glyph_mask(images)
        assert glyph[:, 3:13, 5:7].all() and glyph.sum() == 2 * 20, images[0, 0, 0, 0]
    assert M.glyph_mask(torch.full((1, 1, 8, 8), 0.5)).sum() == 0  # a blank image has no glyph


class Reader(nn.Module):
    """Class 0's logit is 8x the mean of the left half; class 1's is fixed: blurring the left half's
    bright bar lowers class 0's probability, blurring the flat right half changes nothing."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        left = self.conv(x)[:, 0, :, :8].mean((1, 2)) * 8
        return torch.stack([left, torch.full_like(left, 0.5)], 1)


def test_faithfulness_is_positive_when_the_map_points_at_what_matters_and_negative_when_it_does_not():
    model = Reader()
    with torch.no_grad():
        model.conv.weight.fill_(1.0)
        model.conv.bias.zero_()
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, :, 2:5] = 1.0  # a bright bar on the left: class 0
    assert model(x).argmax(1).item() == 0
    on_bar, on_right = torch.zeros(1, 16, 16), torch.zeros(1, 16, 16)
    on_bar[0, :, 2:5] = 1.0
    on_right[0, :, 11:14] = 1.0
    good = M.faithfulness(model, x, on_bar, torch.tensor([0])).item()
    bad = M.faithfulness(model, x, on_right, torch.tensor([0])).item()
    assert good > 0.05 and bad < 0 and good > bad
    assert M.top_pixels(on_bar)[0, :, 2:5].all() and M.top_pixels(on_bar).sum() == round(0.2 * 256)
    assert M.random_pixels((2, 16, 16)).sum() == 2 * 51 and torch.equal(
        M.random_pixels((2, 16, 16)), M.random_pixels((2, 16, 16))
    )
    assert math.isnan(M.faithfulness(model, x, torch.zeros(1, 16, 16), torch.tensor([0])).item())
    assert M.mean(torch.tensor([1.0, math.nan, 3.0])) == 2.0 and M.mean(torch.tensor([math.nan])) is None


def test_a_look_and_its_picture(tmp_path):
    model = C.DannClassifier(_hw())
    clf = C.Classifier(
        model, tuple("0123456789"), 32, lambda images, domain: images.float() / 255, "toy", {"method": "dann"}
    )
    images = (torch.rand(3, 1, 32, 32) * 255).to(torch.uint8)
    labels = torch.tensor([0, 1, 2])
    looks = [
        M.look(clf, images, "target", labels, "gradcam", model_name=name) for name in ("DANN", "source-only")
    ]
    summary = M.summaries(looks)
    assert set(summary) == {"DANN", "source-only"} and set(summary["DANN"]) == {
        "strokes",
        "glyph_area",
        "faithfulness",
        "accuracy",
    }
    assert summary["DANN"]["strokes"]["target"] is None or 0 <= summary["DANN"]["strokes"]["target"] <= 1
    json.dumps(summary)
    grid = cam_grid(images, looks, clf.classes, tile=64, title="target")
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3 and grid.shape[1] >= 3 * 64
    wrong = ~looks[0].correct
    red = (grid[..., 0] > 200) & (grid[..., 1] < 60) & (grid[..., 2] < 60)
    assert red.any() == bool(wrong.any())  # a wrong prediction has a red frame, a right one none
    both = side_by_side([grid, grid[:50]])
    assert both.shape[0] == grid.shape[0] and both.shape[1] == 2 * grid.shape[1] + 16


def test_a_fine_tuned_backbone_is_a_classifier_too(tmp_path):
    from explorer.transfer.backbones import load_backbone
    from explorer.transfer.freezing import replace_head

    net = replace_head(load_backbone("resnet18", "random").model, "resnet18", 3)
    torch.save(net.state_dict(), tmp_path / "model.pt")
    (tmp_path / "config.json").write_text(json.dumps({"backbone": "resnet18", "classes": ["a", "b", "c"]}))
    clf = C.load_classifier(tmp_path)
    assert clf.classes == ("a", "b", "c") and clf.image_size == 32 and clf.input_shape == (3, 32, 32)
    # each layer keeps its own output
    assert not any(m.inplace for m in clf.model.modules() if isinstance(m, nn.ReLU))
    grey = (torch.rand(2, 1, 32, 32) * 255).to(torch.uint8)
    result = C.cams(clf.model, clf.prepare(grey, "target"))
    assert result.layer == "net.layer3" and result.maps.shape == (2, 32, 32)  # layer4 is 1x1 at 32 px
    assert (
        C.cams(clf.model, clf.prepare(grey, "target"), "gradcam", "net.layer2.1.conv2").layer
        == "net.layer2.1.conv2"
    )
    (tmp_path / "config.json").write_text(json.dumps({"backbone": "resnet18", "classes": ["a", "b"]}))
    with pytest.raises(ExplorerError, match="does not fit a resnet18"):
        C.load_classifier(tmp_path)


def test_a_smaller_sample_is_the_start_of_a_larger_one():
    from explorer.data.builtin import load_builtin

    target = load_builtin(32).target
    small, small_labels = M.sample(target, 4)
    large, large_labels = M.sample(target, 16)
    assert torch.equal(small, large[:4]) and torch.equal(small_labels, large_labels[:4]) and len(large) == 16


def test_maps_are_taken_under_no_grad_and_inference_mode_too():
    model = C.DannClassifier(_hw()).eval()
    expected = C.cams(model, torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))).maps
    with torch.no_grad():
        assert torch.equal(
            C.cams(model, torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))).maps, expected
        )
    with torch.inference_mode():
        x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(3))
        assert torch.equal(C.cams(model, x).maps, expected)
