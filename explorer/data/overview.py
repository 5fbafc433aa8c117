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


# ---- "What you are looking at": the Data page's notes, in words a teacher can say

EMBEDDED_NOTES = (
    "**Two domains, one task.** Both sides show the same classes, but drawn differently. A classifier "
    "trained on the source alone learns colour and texture cues that the target does not have, so its "
    "accuracy drops on the target: that drop is the *domain shift*.",
    "**The histograms show the shift in numbers.** Photos spread over the whole intensity range; "
    "drawings are mostly one background value with a few stroke pixels. A network sees these statistics "
    "first (BatchNorm layers even learn them), which is why Canny edges or domain-adversarial training "
    "are needed to bring the two together.",
    "**The target's labels are not used for training.** When the target folder has class folders that "
    "match the source classes, they are used only to report target accuracy. The homework's "
    "`test_data/0/` is one folder, so there the target is unlabelled.",
)


def notes(dataset: Dataset, table: pd.DataFrame | None = None, hist: pd.DataFrame | None = None) -> list[str]:
    """What the Data page says about `dataset`, one markdown paragraph per point: the embedded pair's
    own text, else sentences computed from this data (sizes, colour, class balance, pixel statistics,
    target labels). `table`, `hist`: its `summary` and `intensity_histogram`, when already computed."""
    if dataset.source.origin.startswith("builtin:"):
        return list(EMBEDDED_NOTES)
    table = summary(dataset) if table is None else table
    hist = intensity_histogram(dataset) if hist is None else hist
    mean = table.set_index("domain")["mean intensity"]
    return [_two_domains(dataset), _pixels(mean, hist), _target_labels(dataset)]


def _colour(d: Domain) -> str:
    return "in colour" if d.channels == 3 else "in grey"


def _usual_size(d: Domain) -> str:
    """The most common original size: ``40x40``, or ``mostly 40x40`` when sizes vary."""
    (w, h), n = Counter(map(tuple, d.sizes.tolist())).most_common(1)[0]
    return ("" if n == len(d) else "mostly ") + f"{w}x{h}"


def _two_domains(ds: Dataset) -> str:
    src, tgt = ds.source, ds.target
    side, k = src.images.shape[-1], len(src.classes)
    text = (
        f"**Two domains, one task.** The source has {len(src):,} images in {k:,} classes; the target has "
        f"{len(tgt):,} images. Both are shown at {side}x{side} pixels; originally the source's images were "
        f"{_usual_size(src)} and the target's {_usual_size(tgt)}. "
    )
    if src.channels != tgt.channels:
        text += (
            f"The source is {_colour(src)} and the target {_colour(tgt)}: colour cues learnt on one side "
            "are missing on the other, part of the *domain shift*."
        )
    else:
        text += f"Both are {_colour(src)}: the *domain shift*, if any, lies in what the pictures show."
    per_class = torch.bincount(src.labels, minlength=k) if src.labelled else torch.zeros(1)
    if per_class.min() * 2 < per_class.max():
        text += (
            f" The source's classes are uneven, from {int(per_class.min()):,} to {int(per_class.max()):,} "
            "images each: a classifier leans towards the big ones."
        )
    return text


def _shade(intensity: float) -> str:
    return "black" if intensity < 32 else "white" if intensity >= 224 else f"{intensity:.0f}"


def _pixels(mean: pd.Series, hist: pd.DataFrame) -> str:
    share = hist.pivot(index="intensity", columns="domain", values="fraction")
    overlap = float(share.min(axis=1).sum())
    text = (
        f"**The histograms compare the pixels.** On 0 (black) to 255 (white), the source's pixels average "
        f"{mean['source']:.0f} and the target's {mean['target']:.0f}; the two histograms overlap by "
        f"{overlap:.0%} (100% would be the same mix of shades). "
    )
    for name in ("source", "target"):
        top = share[name]
        if top.max() > 0.4:
            centre = top.idxmax() + 128 / BINS
            text += (
                f"{top.max():.0%} of the {name}'s pixels are near {_shade(centre)}, one plain shade like "
                "a background. "
            )
    if overlap < 0.7:
        return text + (
            "A network sees these statistics first (BatchNorm layers even learn them): this shift is what "
            "Canny edges or domain-adversarial training have to bring together."
        )
    return text + "In brightness the two domains are alike: their shift, if any, lies in shapes and textures."


def _target_labels(ds: Dataset) -> str:
    if ds.target.labelled:
        return (
            "**The target's labels are not used for training.** Its class folders match the source's "
            "classes, so they only report target accuracy."
        )
    return (
        "**The target is unlabelled.** Training never needs its labels; without them no target accuracy "
        "can be shown, and each run judges itself with measures that need no labels."
    )
