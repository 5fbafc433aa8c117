"""The embedded default dataset: "photos to drawings" built offline from what scikit-learn ships.

* Digits: ``sklearn.datasets.load_digits()``, 1,797 handwritten 8x8 digits (values 0..16),
  split by a fixed-seed permutation into two disjoint halves.
* Source (labelled, colour, 32x32): the first half, each digit upscaled to 24x24, padded to
  32x32 and blended over a random 32x32 patch of one of the two photos of
  ``load_sample_images()`` with the MNIST-M recipe of the DANN paper (Ganin et al. 2016,
  section 5.2.2): per pixel and channel, ``out = |patch - digit|``.
* Target (grey, 28x28 like the homework's drawings): the other half as line drawings, white
  strokes on black: each digit upscaled to 20x20, padded to 28x28 as MNIST centres its digits,
  thresholded, and drawn as the 1-2 px outline of its shape (a morphological gradient). Outlines,
  not filled blobs, because the homework's targets are line drawings, and because it is then
  Canny edges that make a source photo look like a target drawing. Labels are kept for
  evaluation only, so target accuracy can be shown.

The raw arrays are cached in ``$EXPLORER_HOME/builtin-v1.npz``; every size is then produced
through the same checks and resize as images from disk (`explorer.data.images.prepare_image`).
"""

from __future__ import annotations

import os
import uuid

import cv2
import numpy as np
from PIL import Image

from explorer.data.domains import Dataset, _assemble, pair
from explorer.data.images import prepare_image
from explorer.store.home import home

SEED = 0
CACHE_NAME = "builtin-v2.npz"
CLASSES = tuple(str(d) for d in range(10))


def _upscale(digits: np.ndarray, inner: int, outer: int) -> np.ndarray:
    """(N, 8, 8) in 0..16 -> (N, outer, outer) uint8, the digit `inner` px wide in the centre."""
    pad = (outer - inner) // 2
    out = np.zeros((len(digits), outer, outer), np.uint8)
    for i, d in enumerate(digits):
        img = Image.fromarray(np.uint8(np.clip(d * 16, 0, 255)), "L").resize(
            (inner, inner), Image.Resampling.BILINEAR
        )
        out[i, pad : pad + inner, pad : pad + inner] = np.asarray(img)
    return out


def outline(digit: np.ndarray) -> np.ndarray:
    """A line drawing of a digit: the 1-2 px white border of its thresholded shape, on black."""
    shape = np.where(digit > 100, 255, 0).astype(np.uint8)
    return cv2.morphologyEx(shape, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))


def blend(patch: np.ndarray, stroke: np.ndarray) -> np.ndarray:
    """MNIST-M: ``|patch - stroke|`` per channel; (H, W, 3) photo patch and (H, W) digit, uint8."""
    return np.abs(patch.astype(np.int16) - stroke.astype(np.int16)[:, :, None]).astype(np.uint8)


def build_raw() -> dict[str, np.ndarray]:
    """Compute the raw arrays (no cache): source (N, 32, 32, 3), target (M, 28, 28) and labels."""
    from sklearn.datasets import load_digits, load_sample_images

    digits = load_digits()
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(digits.images))
    src_idx, tgt_idx = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2 :])

    photos = load_sample_images().images  # two (427, 640, 3) uint8 photos
    strokes = _upscale(digits.images[src_idx], 24, 32)
    source = np.empty((len(src_idx), 32, 32, 3), np.uint8)
    for i in range(len(src_idx)):
        photo = photos[rng.integers(len(photos))]
        y = rng.integers(photo.shape[0] - 32)
        x = rng.integers(photo.shape[1] - 32)
        source[i] = blend(photo[y : y + 32, x : x + 32], strokes[i])
    return {
        "source": source,
        "source_labels": digits.target[src_idx].astype(np.int64),
        "source_index": src_idx,
        "target": np.stack([outline(d) for d in _upscale(digits.images[tgt_idx], 20, 28)]),
        "target_labels": digits.target[tgt_idx].astype(np.int64),
        "target_index": tgt_idx,
    }


def load_raw() -> dict[str, np.ndarray]:
    """The raw arrays, from the disk cache when it is there and readable."""
    path = home() / CACHE_NAME
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        pass
    raw = build_raw()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.npz")
    np.savez(tmp, **raw)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return raw


def _domain(name: str, arrays: np.ndarray, labels: np.ndarray, size: int):
    good = []
    for i, (a, y) in enumerate(zip(arrays, labels)):
        good.append(((f"{y}/{i:04d}.png", CLASSES[y]), prepare_image(Image.fromarray(a), size)))
    return _assemble(name, f"builtin:{name}", good, (), [])


def load_builtin(size: int = 32) -> Dataset:
    """The embedded default as a `Dataset` with images at `size` x `size`."""
    raw = load_raw()
    return pair(
        _domain("source", raw["source"], raw["source_labels"], size),
        _domain("target", raw["target"], raw["target_labels"], size),
        name="builtin: digit photos → digit drawings",
    )
