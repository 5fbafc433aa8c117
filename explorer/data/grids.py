"""Compose many small images into one picture (one image widget instead of hundreds)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = 255
INK = (40, 40, 40)


def _rgb(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) uint8 tensor -> (N, H, W, 3) uint8 array."""
    a = images.permute(0, 2, 3, 1).numpy()
    return np.repeat(a, 3, axis=3) if a.shape[3] == 1 else a


def tile_array(tiles: np.ndarray, cols: int, gap: int = 2) -> np.ndarray:
    """(N, H, W, 3) uint8 tiles in rows of `cols`, `gap` pixels apart, on white."""
    n, h, w, _ = tiles.shape
    rows = max(1, -(-n // cols))
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), BACKGROUND, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[i]
    return out


def tile(images: torch.Tensor, cols: int, scale: int = 2, gap: int = 2) -> np.ndarray:
    """Images in rows of `cols`, each enlarged `scale` times (nearest neighbour), on white."""
    return tile_array(_rgb(images).repeat(scale, axis=1).repeat(scale, axis=2), cols, gap)


def class_rows(
    images: torch.Tensor, labels: torch.Tensor, classes, per_class: int = 8, scale: int = 2, seed: int = 0
) -> np.ndarray:
    """One row per class of up to `per_class` random samples, the class name written on the left."""
    gen = torch.Generator().manual_seed(seed)
    h = images.shape[2] * scale
    font = ImageFont.load_default(size=max(10, min(18, h // 2)))
    label_w = max(40, 10 + max(int(font.getlength(str(c))) for c in classes))
    rows = []
    for k, name in enumerate(classes):
        idx = torch.nonzero(labels == k).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)[:per_class]]
        strip = tile(images[idx], per_class, scale) if len(idx) else np.full((h, 1, 3), BACKGROUND, np.uint8)
        row = Image.new(
            "RGB", (label_w + per_class * (images.shape[3] * scale + 2), h + 2), (BACKGROUND,) * 3
        )
        row.paste(Image.fromarray(strip), (label_w, 0))
        ImageDraw.Draw(row).text((4, h // 2), str(name), fill=INK, font=font, anchor="lm")
        rows.append(np.asarray(row))
    return np.concatenate(rows, axis=0)


def sample(images: torch.Tensor, n: int = 64, cols: int = 8, scale: int = 2, seed: int = 0) -> np.ndarray:
    """`n` random images (fixed seed) in rows of `cols`."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(images.shape[0], generator=gen)[:n]
    return tile(images[idx], cols, scale)
