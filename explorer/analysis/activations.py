"""What every conv layer makes of one image: forward hooks, one pass, all maps as one picture.

`capture` registers a forward hook on every ``nn.Conv2d`` (and a shape-only hook on every other
leaf module, for the summary table), runs one forward pass under ``no_grad``, and removes every
hook in a ``finally`` block, so nothing is left registered however the pass ends.

`map_grid` draws C feature maps as one image: each map normalised on its own to its min..max
(a map's absolute scale says little; its pattern says a lot), coloured with viridis, with its
filter index in the corner. `kernel_grid` draws conv1's weights as small RGB images.

Input for a torchvision backbone: the lesson's preprocessing, centre crop to a square, resize to
224, scale to [0, 1], normalise with ImageNet's mean and std. For a DANN run's feature extractor:
the run's own input, prepared as the run prepared that domain (`dann_input`: Canny edges, grey or
colour, inverted; `input_step` says which in words), at the run's image size, in [0, 1].

`kernel_change` says how far two same-shaped conv layers' kernels are apart, per filter c,
relative to the reference kernel's own length (Frobenius norms over in-channels x k x k):

    r_c = ||W1[c] - W0[c]|| / ||W0[c]||

0 means unchanged; 1 means the kernel moved as far as it was long. A run against its epoch-0 start
reads as "how much training changed each filter", which the kernel pictures, each scaled to its own
range, cannot show. `difference_grid` draws W1 - W0 at one scale for all filters (grey = unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from explorer.data.grids import tile_array
from explorer.data.preprocess import Preprocess
from explorer.errors import ExplorerError
from explorer.transfer.backbones import IMAGENET_MEAN, IMAGENET_STD

INPUT_SIZE = 224


@dataclass
class Capture:
    maps: dict[str, torch.Tensor]  # conv layer name -> (C, H, W) output for the image
    summary: list[dict]  # one row per leaf module: name, type, output shape, parameters, trainable


def imagenet_input(pixels: np.ndarray) -> torch.Tensor:
    """(224, 224, 3 or 1) uint8 from `read_image(..., 224)` -> (1, 3, 224, 224) normalised float."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float() / 255
    if x.shape[0] == 1:
        x = x.repeat(3, 1, 1)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std)[None]


def conv_layers(model: torch.nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]


@torch.no_grad()
def capture(model: torch.nn.Module, x: torch.Tensor) -> Capture:
    maps: dict[str, torch.Tensor] = {}
    rows: list[dict] = []
    handles = []

    def conv_hook(name):
        def hook(module, inputs, output):
            maps[name] = output[0].detach().float().cpu()

        return hook

    def shape_hook(name):
        def hook(module, inputs, output):
            params = list(module.parameters(recurse=False))
            rows.append(
                {
                    "layer": name,
                    "type": type(module).__name__,
                    "output shape": "x".join(map(str, output.shape[1:]))
                    if isinstance(output, torch.Tensor)
                    else "-",
                    "parameters": sum(p.numel() for p in params),
                    "trainable": ("yes" if all(p.requires_grad for p in params) else "frozen")
                    if params
                    else "-",
                }
            )

        return hook

    was = model.training
    model.eval()
    try:
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d):
                handles.append(module.register_forward_hook(conv_hook(name)))
            if not list(module.children()):
                handles.append(module.register_forward_hook(shape_hook(name)))
        model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return Capture(maps, rows)


def _label(tile: np.ndarray, text: str, font) -> np.ndarray:
    img = Image.fromarray(tile)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 6 + 7 * len(text), 14), fill=(0, 0, 0))
    d.text((3, 1), text, fill=(255, 255, 255), font=font)
    return np.asarray(img)


def map_grid(
    maps: torch.Tensor, start: int = 0, count: int = 64, cols: int = 8, tile: int = 96, gap: int = 3
) -> np.ndarray:
    """Maps ``start .. start+count`` of a (C, H, W) tensor as one RGB image, `cols` per row."""
    sel = maps[start : start + count].numpy()
    lo = sel.min(axis=(1, 2), keepdims=True)
    hi = sel.max(axis=(1, 2), keepdims=True)
    norm = ((sel - lo) / np.maximum(hi - lo, 1e-8) * 255).astype(np.uint8)
    font = ImageFont.load_default(size=11)
    tiles = [
        _label(cv2.applyColorMap(_enlarge(m, tile), cv2.COLORMAP_VIRIDIS)[:, :, ::-1], str(start + k), font)
        for k, m in enumerate(norm)
    ]
    return tile_array(np.stack(tiles), cols, gap)


def single_map(maps: torch.Tensor, index: int, size: int = 448) -> np.ndarray:
    """One map, large, normalised and coloured like the grid."""
    return map_grid(maps, index, 1, 1, tile=size)


def kernel_grid(weight: torch.Tensor, cols: int = 8, tile: int = 56, gap: int = 3) -> np.ndarray:
    """conv1 weights (64, 3, k, k) as 64 small RGB images, each scaled to its own min..max."""
    w = weight.detach().float().cpu()
    if w.shape[1] != 3:
        w = w.mean(1, keepdim=True).repeat(1, 3, 1, 1)
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    imgs = ((w - lo) / (hi - lo).clamp_min(1e-8) * 255).byte().permute(0, 2, 3, 1).numpy()
    return tile_array(np.stack([_enlarge(im, tile) for im in imgs]), cols, gap)


def _enlarge(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_NEAREST)


def first_conv(model: torch.nn.Module) -> torch.nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def dann_input(pixels: np.ndarray, loaded: LoadedExtractor, domain: str = "target") -> torch.Tensor:
    """(S, S, C) uint8 at the run's image size -> (1, in_channels, S, S) in [0, 1], prepared as the
    run prepared its `domain`'s images ("source": Canny and inversion as on the source; "target": as
    on the target, which is also how a trained run prepares new images for prediction)."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
    return dann_inputs(x, loaded.preprocess, loaded.in_channels, domain)


def dann_inputs(
    images: torch.Tensor, preprocess: Preprocess, in_channels: int, domain: str = "target"
) -> torch.Tensor:
    """`dann_input` for a batch: (N, C, S, S) uint8 -> (N, in_channels, S, S) float in [0, 1]."""
    colour = in_channels == 3
    x = preprocess.source(images, colour) if domain == "source" else preprocess.target(images, colour)
    return (x.repeat(1, 3, 1, 1) if x.shape[1] < in_channels else x).float() / 255


def input_step(preprocess: Preprocess, domain: str, colour: bool) -> str:
    """The step `dann_input` applies to a `domain` image, in words, e.g. ``edges (Canny 100/200)``."""
    edges = preprocess.edges == "both" or (preprocess.edges == "source" and domain == "source")
    text = (
        f"edges (Canny {preprocess.low}/{preprocess.high})"
        if edges
        else ("colour, unchanged" if colour else "grey")
    )
    return text + (", inverted" if preprocess.invert and domain == "source" else "")


def kernel_change(after: torch.Tensor, before: torch.Tensor) -> KernelChange:
    """Per filter, ||after[c] - before[c]|| / ||before[c]|| (see the module docstring)."""
    if after.shape != before.shape:
        raise ExplorerError(
            f"Kernels of shapes {tuple(after.shape)} and {tuple(before.shape)} cannot be compared."
        )
    a, b = after.detach().float().flatten(1), before.detach().float().flatten(1)
    moved, size = (a - b).norm(dim=1), b.norm(dim=1)
    ratio = torch.where(size > 0, moved / size.clamp_min(1e-30), torch.where(moved > 0, torch.inf, 0.0))
    total, base = float((a - b).norm()), float(b.norm())
    return KernelChange(ratio.numpy(), total / base if base > 0 else (float("inf") if total > 0 else 0.0))


def difference_grid(
    after: torch.Tensor, before: torch.Tensor, cols: int = 8, tile: int = 56, gap: int = 3
) -> tuple[np.ndarray, float]:
    """``after - before`` as small RGB images at one scale for all filters: grey is unchanged, full
    colour is +-`scale` (the largest change of any weight), returned beside the picture."""
    d = (after.detach().float() - before.detach().float()).cpu()
    if d.shape[1] != 3:
        d = d.mean(1, keepdim=True).repeat(1, 3, 1, 1)
    scale = float(d.abs().max())
    imgs = (128 + 127 * d / max(scale, 1e-30)).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return tile_array(np.stack([_enlarge(im, tile) for im in imgs]), cols, gap), scale


@dataclass(frozen=True)
class KernelChange:
    per_filter: np.ndarray  # r_c for each output channel c
    whole: float  # ||W1 - W0|| / ||W0|| over the whole layer

    @property
    def median(self) -> float:
        return float(np.median(self.per_filter))

    @property
    def most(self) -> tuple[int, float]:
        """The filter that moved most, and how far."""
        i = int(np.argmax(self.per_filter))
        return i, float(self.per_filter[i])


@dataclass
class LoadedExtractor:
    """A DANN run's feature extractor, with the input it was trained on."""

    model: torch.nn.Module
    in_channels: int
    input_size: int
    preprocess: Preprocess


def dataset_pixels(image: torch.Tensor, size: int) -> np.ndarray:
    """One (C, H, W) uint8 dataset image as (size, size, C), cropped and resized like a file."""
    from explorer.data.images import fit

    return fit(image.permute(1, 2, 0).numpy(), size)
