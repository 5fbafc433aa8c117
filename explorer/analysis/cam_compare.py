"""A run beside its source-only twin: every model's class-activation maps of the same sampled images
of each domain (target first), their numbers, the picture of them all, and the verdict in words:
does adaptation make the model look more at the target's strokes than its twin does?

Used by ``python -m explorer cam`` and by Feature Space's "Where it looks" view. The images are the
fixed-seed sample of `explorer.analysis.cam_metrics.sample`, so the first n of a larger sample are
a smaller one: the page computes the maps once for many images and shows the first n (`first`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from explorer.analysis import cam_metrics as M
from explorer.analysis.cam import Classifier
from explorer.analysis.cam_picture import cam_grid, side_by_side

DOMAINS = ("target", "source")
SAME = 0.02  # a gap in attention on strokes smaller than this reads "about as much"

Looks = dict[tuple[str, str], M.Look]  # (model name, domain) -> that model's Look of that domain


def looks(
    models: dict[str, Classifier],
    dataset,
    n: int,
    method: str = "gradcam",
    layer: str | None = None,
    seed: int = M.SEED,
) -> Looks:
    """Each model's maps and numbers for the same `n` sampled images of each domain of `dataset`
    (a `Dataset`), keyed (model name, domain), target first; each Look named by its model's key."""
    found = {}
    for domain in DOMAINS:
        images, labels = M.sample(getattr(dataset, domain), n, seed)
        for name, model in models.items():
            found[name, domain] = M.look(model, images, domain, labels, method, layer, name)
    return found


def first(found: Looks, n: int) -> Looks:
    """`found` for the first `n` images of each domain only."""
    return {key: lk.first(n) for key, lk in found.items()}


def picture(
    found: Looks,
    dataset,
    seed: int = M.SEED,
    title: Callable[[str, int], str] = lambda domain, n: f"{domain} images",
) -> np.ndarray:
    """The maps as one picture: a grid per domain (the images, then a column per model), side by
    side; `title(domain, number of images)` above each grid."""
    names = list(dict.fromkeys(name for name, _ in found))
    grids = []
    for domain in DOMAINS:
        row = [found[name, domain] for name in names]
        images = M.sample(getattr(dataset, domain), len(row[0].cams.predicted), seed)[0]
        grids.append(cam_grid(images, row, tuple(dataset.classes), title=title(domain, len(images))))
    return side_by_side(grids)


def percent(v: float | None) -> str:
    """A share in words, ``42%``; ``–`` where nothing could be measured."""
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0%}"


def verdict(shown: Looks, run_name: str, twin_name: str | None, n: int) -> str:
    """In words (markdown): does the run look more at the target's strokes than its twin?"""
    d = shown[run_name, "target"].summary()
    if twin_name is None:
        return (
            f"On these {n} target images the run puts **{percent(d['strokes'])}** of its map on the "
            f"strokes; a map spread evenly would put {percent(d['glyph_area'])} there."
        )
    t = shown[twin_name, "target"].summary()
    if d["strokes"] is None or t["strokes"] is None:
        return "No map had any evidence for its class at this layer: pick another layer."
    gap = d["strokes"] - t["strokes"]
    how = "**more** than" if gap > SAME else ("**less** than" if gap < -SAME else "**about as much** as")
    return (
        f"On these {n} target images the DANN run puts {percent(d['strokes'])} of its map on the strokes, "
        f"its source-only twin {percent(t['strokes'])} (an evenly spread map: "
        f"{percent(d['glyph_area'])}): DANN looks at the target's strokes {how} its twin, on this sample."
    )
