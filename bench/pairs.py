"""Labelled domain pairs for benchmarking domain adaptation, built offline from scikit-learn's data.

Every pair takes its source and target digits from the two disjoint halves of
``sklearn.datasets.load_digits()`` that the embedded default uses (`explorer.data.builtin`), so no
digit image is in both domains. Both domains are labelled with the classes "0".."9"; the target
labels are meant for evaluation only. Each pair changes one thing between source and target
(background, polarity, colour, stroke width, pose, resolution), and is deterministic.

    python -m bench.pairs --out DIR [--size 32]

writes one preview PNG per pair (16 source samples left, 16 target samples right) and prints the
image counts, channels and build time of each.
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np
from PIL import Image

from explorer.data import builtin
from explorer.data.builtin import _upscale, blend, load_builtin, outline
from explorer.data.domains import Dataset, Domain, _assemble, pair
from explorer.data.grids import BACKGROUND, tile
from explorer.data.images import prepare_image

SIDE = 32  # every pair is drawn at 32 x 32, then resized to the requested size like any image
INNER = 24  # the digit's width inside it, as in the builtin source

PAIRS = MappingProxyType(
    {
        "builtin": "the embedded default: digits blended into photo patches → white outline drawings",
        "clean-to-photo": "clean grey strokes on black → digits blended into colour photo patches (MNIST-M)",
        "outline-to-filled": "white outline strokes on black → filled white strokes on black",
        "inverted": "white strokes on black → black strokes on white",
        "colour-to-grey": "strokes of a random colour on another colour, plain or noisy → grey strokes "
        "on black with mild noise",
        "thin-to-thick": "thin white strokes on black → thick white strokes on black",
        "rotated": "upright white strokes on black → the same rotated by 25 to 45 degrees either way",
        "lowres": "sharp white strokes on black → strokes at 10 px scaled back up (blurry), "
        "with a little noise",
    }
)


@lru_cache(maxsize=1)
def _halves() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(source digits, source labels, target digits, target labels): builtin's split, 8x8 in 0..16."""
    from sklearn.datasets import load_digits

    raw = builtin.load_raw()  # its cache holds the split's indices (same seed, same permutation)
    digits = load_digits()
    src, tgt = raw["source_index"], raw["target_index"]
    return digits.images[src], digits.target[src], digits.images[tgt], digits.target[tgt]


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_sample_images

    return tuple(load_sample_images().images)


def _rng(name: str, domain: str) -> np.random.Generator:
    return np.random.default_rng([builtin.SEED, zlib.crc32(f"{name}/{domain}".encode())])


# One digit at a time, (32, 32) uint8 grey stroke image -> (32, 32) or (32, 32, 3) uint8, except
# `skeleton`, `thin` and `thick`, which take the whole (N, 32, 32) stack at once (thinning is iterative).


def filled(d: np.ndarray) -> np.ndarray:
    """Solid white strokes: the upscaled digit with its faint fringe cut and its core brightened."""
    return np.clip((d.astype(np.float32) - 40) * 1.6, 0, 255).astype(np.uint8)


def inverted(d: np.ndarray) -> np.ndarray:
    return 255 - filled(d)


def skeleton(shape: np.ndarray) -> np.ndarray:
    """The 1 px centre line of binary (..., H, W) shapes (Zhang-Suen thinning), as 0/1 uint8."""
    img = (shape > 0).astype(np.uint8)
    for _ in range(SIDE):
        changed = False
        for step in (0, 1):
            p = np.pad(img, [(0, 0)] * (img.ndim - 2) + [(1, 1), (1, 1)])
            # neighbours P2..P9, clockwise from north
            n = [
                p[..., a : a + img.shape[-2], b : b + img.shape[-1]]
                for a, b in ((0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0))
            ]
            count = sum(x.astype(np.int32) for x in n)
            crossings = sum(((n[k] == 0) & (n[(k + 1) % 8] == 1)).astype(np.int32) for k in range(8))
            if step == 0:
                cond = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                cond = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            drop = (img == 1) & (count >= 2) & (count <= 6) & (crossings == 1) & cond
            if drop.any():
                img = img & ~drop
                changed = True
        if not changed:
            break
    return img


def thin(stack: np.ndarray) -> list[np.ndarray]:
    """Thin strokes: the centre line of each thresholded digit, drawn about 1.5 px wide."""
    lines = skeleton(stack > 100).astype(np.float32) * 255
    return [np.clip(cv2.GaussianBlur(line, (3, 3), 0.5) * 1.4, 0, 255).astype(np.uint8) for line in lines]


def thick(stack: np.ndarray) -> list[np.ndarray]:
    """Bold strokes: the same centre lines as `thin`, drawn about 5 px wide."""
    pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return [
        cv2.GaussianBlur(cv2.dilate(line, pen), (3, 3), 0.6) for line in skeleton(stack > 100) * np.uint8(255)
    ]


def rotate(img: np.ndarray, angle: float) -> np.ndarray:
    m = cv2.getRotationMatrix2D(((SIDE - 1) / 2, (SIDE - 1) / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderValue=0)


def noisy(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def _hue_rgb(hue: float, sat: float = 1.0, val: float = 1.0) -> np.ndarray:
    """An RGB colour (float 0..255) from hue in degrees."""
    hsv = np.array([[[hue / 2, sat * 255, val * 255]]], np.uint8)  # OpenCV hue is 0..179
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def coloured(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strokes in a saturated colour over a background of a clearly different hue, plain or noisy."""
    hue = rng.uniform(0, 360)
    fg = _hue_rgb(hue, 1.0, rng.uniform(0.85, 1.0))
    bg_hue = (hue + rng.uniform(90, 270)) % 360
    bg = np.broadcast_to(_hue_rgb(bg_hue, rng.uniform(0.5, 1.0), rng.uniform(0.35, 0.8)), (SIDE, SIDE, 3))
    if rng.random() < 0.5:  # noisy background: pixel noise plus a smooth colour blotch
        smooth = cv2.resize(
            rng.normal(0, 40, (4, 4, 3)).astype(np.float32), (SIDE, SIDE), interpolation=cv2.INTER_CUBIC
        )
        bg = bg + smooth + rng.normal(0, 18, (SIDE, SIDE, 3))
    alpha = (filled(d).astype(np.float32) / 255)[:, :, None]
    return np.clip(alpha * fg + (1 - alpha) * bg, 0, 255).astype(np.uint8)


def photo(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The MNIST-M recipe over a random patch of one of the two sample photos, as builtin's source."""
    photos = _photos()
    p = photos[rng.integers(len(photos))]
    y, x = rng.integers(p.shape[0] - SIDE), rng.integers(p.shape[1] - SIDE)
    return blend(p[y : y + SIDE, x : x + SIDE], d)


def lowres(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Down to 10 px and back up, contrast restored so that only sharpness changes, then noise."""
    small = cv2.resize(filled(d), (10, 10), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (SIDE, SIDE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return noisy(big * (255 / max(big.max(), 1.0)), rng, 8)


def _tilted(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rotate(filled(d), rng.choice([-1, 1]) * rng.uniform(25, 45))


# A recipe turns the (N, 32, 32) stack of upscaled digits of one domain into its N images.
Recipe = Callable[[np.ndarray, np.random.Generator], Sequence[np.ndarray]]


def each(fn: Callable[..., np.ndarray], random: bool = False) -> Recipe:
    """A recipe applying `fn(digit)`, or `fn(digit, rng)` when `random`, to every digit in turn."""
    return lambda stack, rng: [fn(d, rng) if random else fn(d) for d in stack]


# pair name -> (source recipe, target recipe)
RECIPES: dict[str, tuple[Recipe, Recipe]] = {
    "clean-to-photo": (lambda stack, rng: list(stack), each(photo, random=True)),
    "outline-to-filled": (each(outline), each(filled)),
    "inverted": (each(filled), each(inverted)),
    "colour-to-grey": (
        each(coloured, random=True),
        each(lambda d, rng: noisy(filled(d), rng, 10), random=True),
    ),
    "thin-to-thick": (lambda stack, rng: thin(stack), lambda stack, rng: thick(stack)),
    "rotated": (each(filled), each(_tilted, random=True)),
    "lowres": (each(filled), each(lowres, random=True)),
}


def _domain(
    pair_name: str, domain: str, arrays: Sequence[np.ndarray], labels: np.ndarray, size: int
) -> Domain:
    classes = builtin.CLASSES
    good = [
        ((f"{y}/{i:04d}.png", classes[y]), prepare_image(Image.fromarray(a), size))
        for i, (a, y) in enumerate(zip(arrays, labels))
    ]
    return _assemble(domain, f"bench:{pair_name}:{domain}", good, (), [])


def load_pair(name: str, size: int = 32) -> Dataset:
    """The pair `name` (a key of `PAIRS`) with images at `size` x `size`."""
    if name not in PAIRS:
        raise KeyError(f"Unknown pair {name!r}; known: {', '.join(PAIRS)}")
    if name == "builtin":
        return load_builtin(size)
    src_digits, src_labels, tgt_digits, tgt_labels = _halves()
    make_source, make_target = RECIPES[name]
    domains = []
    for domain, digits, labels, make in (
        ("source", src_digits, src_labels, make_source),
        ("target", tgt_digits, tgt_labels, make_target),
    ):
        rng = _rng(name, domain)
        arrays = make(_upscale(digits, INNER, SIDE), rng)
        domains.append(_domain(name, domain, arrays, labels, size))
    return pair(*domains, name=f"{name}: {PAIRS[name]}")


def preview(ds: Dataset, n: int = 16, cols: int = 4, scale: int = 3) -> np.ndarray:
    """`n` source samples (left) and `n` target samples (right), the same random picks each run."""
    picks = []
    for dom in (ds.source, ds.target):
        idx = np.sort(np.random.default_rng(0).choice(len(dom), n, replace=False))
        picks.append(tile(dom.images[idx], cols, scale))
    gap = np.full((picks[0].shape[0], 12, 3), BACKGROUND, np.uint8)
    return np.concatenate([picks[0], gap, picks[1]], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for one preview PNG per pair")
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in PAIRS:
        t = time.perf_counter()
        ds = load_pair(name, args.size)
        took = time.perf_counter() - t
        Image.fromarray(preview(ds)).save(args.out / f"{name}.png")
        s, g = ds.source, ds.target
        print(
            f"{name:18s} source {len(s):4d} x {s.channels}ch  target {len(g):4d} x {g.channels}ch  "
            f"{'labelled' if g.labelled else 'unlabelled'}  {took:.2f} s"
        )


if __name__ == "__main__":
    main()
