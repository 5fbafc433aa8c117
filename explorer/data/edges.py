"""Numbers and pictures for choosing Canny thresholds (the Canny Tuner page).

The question a student asks: "with these thresholds, does a source photo look like a target
drawing?". Two densities answer it in one number each:

* edge density of the Canny'd source: the fraction of pixels Canny marks as edges;
* foreground density of the target: the fraction of stroke pixels. A drawing's background is its
  most common value; pixels more than 64 grey levels away from the image's median are strokes
  (this works for white-on-black and black-on-white drawings alike).

Thresholds whose edge density is close to the target's foreground density give source images with
about as much "ink" as the drawings. `density_curve` scans the high threshold with the low one at
a fixed ratio, as the page's chart shows. Canny draws one-pixel lines, so however low the thresholds,
its ink has a ceiling: `ink_reach` scans threshold pairs over the slider's whole range and says
whether the target's ink is within reach at all, and which pair comes closest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import torch

from explorer.data.augment import canny, to_grey

HOMEWORK_PAIRS = ((50, 100), (150, 200), (250, 300))
STROKE_CONTRAST = 64


def edge_density(images: torch.Tensor, low: float, high: float) -> float:
    return float((canny(images, low, high) > 0).float().mean())


def foreground_density(images: torch.Tensor) -> float:
    grey = to_grey(images).float()
    median = grey.flatten(1).median(1).values.view(-1, 1, 1, 1)
    return float(((grey - median).abs() > STROKE_CONTRAST).float().mean())


def density_curve(
    source: torch.Tensor, target: torch.Tensor, ratio: float, highs=(5, 10, 15, *range(20, 501, 20))
) -> pd.DataFrame:
    """Source edge density for each high threshold (low = ratio * high), beside the target's
    foreground density, as rows (high, density, series)."""
    tgt = foreground_density(target)
    grey = to_grey(source)[:, 0].numpy()  # once, not once per threshold
    rows = []
    for h in highs:
        density = float(np.mean([(cv2.Canny(g, ratio * h, h) > 0).mean() for g in grey]))
        rows.append({"high": h, "density": density, "series": "source edges (Canny)"})
        rows.append({"high": h, "density": tgt, "series": "target strokes"})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Reach:
    """How close Canny's ink on the source can come to the target's stroke density."""

    goal: float  # the target's stroke density
    low: int  # the scanned pair whose edge density is closest to `goal`
    high: int
    density: float  # that pair's edge density
    most: float  # the most and the least ink of any scanned pair
    least: float

    @property
    def reachable(self) -> bool:
        return self.least <= self.goal <= self.most


def ink_reach(source: torch.Tensor, target: torch.Tensor, limit: int = 500) -> Reach:
    """Scan threshold pairs (low < high <= `limit`, low from 0 to 3/4 of high) for the source's edge
    density; edge density falls as either threshold rises, so the scan spans what the slider can reach."""
    goal = foreground_density(target)
    grey = to_grey(source)[:, 0].numpy()
    highs = sorted({1, 2, 5, 10, 15, 20, 30, 40, 60, 80, 100, *range(150, limit + 1, 50), limit})
    scanned = []
    for h in (h for h in highs if h <= limit):
        for lo in sorted({0, h // 4, h // 2, 3 * h // 4} - {h}):
            density = float(np.mean([(cv2.Canny(g, lo, h) > 0).mean() for g in grey]))
            scanned.append((abs(density - goal), lo, h, density))
    _, low, high, density = min(scanned)
    inks = [d for *_, d in scanned]
    return Reach(goal, low, high, density, max(inks), min(inks))


def views(images: torch.Tensor, low: float, high: float) -> list[torch.Tensor]:
    """The pipeline step by step, as 3-channel uint8 batches: original, grey, Canny."""
    grey = to_grey(images)
    return [
        images if images.shape[1] == 3 else images.repeat(1, 3, 1, 1),
        grey.repeat(1, 3, 1, 1),
        canny(images, low, high).repeat(1, 3, 1, 1),
    ]


def from_array(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 from `explorer.data.images.read_image` -> (1, C, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None]
