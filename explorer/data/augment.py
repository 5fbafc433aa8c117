"""Input preparation, done once per run, and augmentation, done per batch on the training device.

Once per run (uint8, on the CPU, cached by the engine):

* `canny`: OpenCV's Canny edge detector on each source image's luminance; thresholds (low, high)
  as in ``cv2.Canny``: gradients above `high` start an edge, those above `low` continue one. The
  homework turns photos into line drawings this way (it used 170/300).
* `to_grey`: luminance, ``0.299 R + 0.587 G + 0.114 B``.

Per batch (float, on the device, one call for the whole batch, no per-sample Python): a random
rotation of up to +-`degrees` and, optionally, a random horizontal flip (which turns a 2 into
something else and a left-facing object into a right-facing one), as one affine warp
(``affine_grid`` + ``grid_sample``), empty corners filled with 0 as torchvision's RandomRotation.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import ExplorerError


def to_grey(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) or (N, 1, H, W) uint8 -> (N, 1, H, W) uint8."""
    if images.shape[1] == 1:
        return images
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def check_thresholds(low: float, high: float) -> None:
    if not (0 <= low < high):
        raise ExplorerError(f"Canny thresholds must satisfy 0 <= low < high; got low={low}, high={high}.")


def canny(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, 1, H, W) uint8 edge maps (0 or 255)."""
    check_thresholds(low, high)
    grey = to_grey(images)[:, 0].numpy()
    out = np.empty_like(grey)
    for i, g in enumerate(grey):
        out[i] = cv2.Canny(g, low, high)
    return torch.from_numpy(out)[:, None]


def random_flip_rotate(
    x: torch.Tensor, generator: torch.Generator, degrees: float = 15.0, flip: bool = True
) -> torch.Tensor:
    """Rotate each image by U(-degrees, degrees) and, with `flip`, flip it left-right with probability 1/2."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * math.radians(degrees)
    flip = (
        torch.where(torch.rand(n, generator=generator, device=x.device) < 0.5, -1.0, 1.0)
        if flip
        else torch.ones_like(angle)
    )
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, zero], 1), torch.stack([sin * flip, cos, zero], 1)], 1
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
