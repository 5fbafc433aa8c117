"""Numbers that describe a dataset: what the Data page shows and the CLI can print.

The pixel-intensity histogram is where the domain shift shows first: luminance
``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601), in 32 bins over 0..255, as a fraction of
each domain's pixels so domains of different sizes compare.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch

from explorer.data.domains import Dataset, Domain

BINS = 32
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def luminance(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, H, W) float in 0..255."""
    x = images.float()
    return x[:, 0] if x.shape[1] == 1 else (x * _LUMA).sum(1)


def _sizes(domain: Domain) -> str:
    counts = Counter(map(tuple, domain.sizes.tolist()))
    (w, h), n = counts.most_common(1)[0]
    text = f"{w}x{h}" + ("" if n == len(domain) else f" ({n:,} of {len(domain):,})")
    if len(counts) > 1:
        area = domain.sizes.prod(1)
        lo, hi = domain.sizes[area.argmin()], domain.sizes[area.argmax()]
        text += f"; from {lo[0]}x{lo[1]} to {hi[0]}x{hi[1]}"
    return text


def summary(dataset: Dataset) -> pd.DataFrame:
    """One row per domain: counts, labels, tensor shape, original sizes and modes, pixel statistics."""
    rows = []
    for d in (dataset.source, dataset.target):
        y = luminance(d.images)
        rows.append(
            {
                "domain": d.name,
                "images": len(d),
                "labels": f"{len(d.classes)} classes" if d.labelled else "unlabelled",
                "tensor": "x".join(map(str, d.images.shape)) + " uint8",
                "original size": _sizes(d),
                "original mode": ", ".join(f"{m} ({n:,})" for m, n in Counter(d.modes).most_common()),
                "mean intensity": round(float(y.mean()), 1),
                "std intensity": round(float(y.std()), 1),
                "skipped files": len(d.skipped),
            }
        )
    return pd.DataFrame(rows)


def class_counts(dataset: Dataset) -> pd.DataFrame:
    """Images per class and domain (an unlabelled target is one bar named 'unlabelled')."""
    rows = []
    for d in (dataset.source, dataset.target):
        if d.labelled:
            counts = torch.bincount(d.labels, minlength=len(d.classes)).tolist()
            rows += [{"domain": d.name, "class": c, "images": n} for c, n in zip(d.classes, counts)]
        else:
            rows.append({"domain": d.name, "class": "unlabelled", "images": len(d)})
    return pd.DataFrame(rows)


def intensity_histogram(dataset: Dataset) -> pd.DataFrame:
    """Fraction of each domain's pixels per luminance bin."""
    edges = np.linspace(0, 256, BINS + 1)
    rows = []
    for d in (dataset.source, dataset.target):
        hist = torch.histc(luminance(d.images), bins=BINS, min=0, max=256)
        frac = (hist / hist.sum()).tolist()
        rows += [
            {"domain": d.name, "intensity": float(lo), "intensity_end": float(hi), "fraction": f}
            for lo, hi, f in zip(edges[:-1], edges[1:], frac)
        ]
    return pd.DataFrame(rows)
