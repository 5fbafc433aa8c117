"""Numbers for class-activation maps, per image and averaged: does the map sit on the strokes, and
does it point at what the prediction depends on?

*Attention on strokes*: the share of the map's mass on the glyph,

    strokes = sum_ij m_ij g_ij / sum_ij m_ij

with g the glyph, found without labels in the image the model saw (its preprocessed input, grey):
Otsu's threshold splits the pixels in two, and the side that holds most of the one-pixel border is
the background (dark strokes on white and white strokes on black alike). A map spread evenly scores
the glyph's area (`glyph_area`), the chance level to read the share against.

*Faithfulness* (a deletion test): blur out the top `SHARE` of the map's pixels (replaced by a strong
Gaussian blur of the image, sigma = size / 8) and the same number of pixels chosen at random (a fixed
seed); with p the predicted class's probability,

    faithfulness = (p(x) - p(x with the top pixels blurred)) - (p(x) - p(x with random pixels blurred))

Positive: the pixels the map points at matter more to the prediction than any pixels do.

An all-zero map (no evidence for the class at that layer) and an image without a glyph give NaN for
that image; the averages leave them out (`mean`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2.functional import gaussian_blur

from explorer.analysis.cam import Cams, Classifier, cams

SHARE = 0.2  # of the pixels blurred out by the deletion test
SEED = 0


def glyph_mask(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (N, H, W) bool: Otsu on the grey image, the border's majority side
    being the background."""
    grey = (images.detach().float().mean(1) * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    masks = []
    for g in grey:
        t, _ = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        bright = g > t
        border = np.concatenate([bright[0], bright[-1], bright[1:-1, 0], bright[1:-1, -1]])
        masks.append(~bright if border.mean() > 0.5 else bright)
    return torch.from_numpy(np.stack(masks))


def stroke_share(maps: torch.Tensor, glyph: torch.Tensor) -> torch.Tensor:
    """(N,) share of each map's mass on its glyph; NaN for an all-zero map or an empty glyph."""
    m, g = maps.flatten(1).float(), glyph.flatten(1).float()
    mass = m.sum(1)
    share = (m * g).sum(1) / mass.clamp_min(1e-12)
    return torch.where((mass > 0) & (g.sum(1) > 0), share, torch.full_like(share, math.nan))


def blurred(images: torch.Tensor) -> torch.Tensor:
    """A strong Gaussian blur of (N, C, H, W) images: sigma = size / 8 (at least 1)."""
    size = min(images.shape[-2:])
    sigma = max(1.0, size / 8)
    k = min(2 * math.ceil(3 * sigma) + 1, 2 * (size // 2) - 1 if size > 2 else 1)
    return gaussian_blur(images, [k, k], [sigma, sigma])


def top_pixels(maps: torch.Tensor, share: float = SHARE) -> torch.Tensor:
    """(N, H, W) bool: each map's `share` highest pixels."""
    flat = maps.flatten(1)
    k = max(1, round(share * flat.shape[1]))
    return torch.zeros_like(flat, dtype=torch.bool).scatter_(1, flat.topk(k, 1).indices, True).view_as(maps)


def random_pixels(shape: tuple[int, int, int], share: float = SHARE, seed: int = SEED) -> torch.Tensor:
    n, h, w = shape
    k = max(1, round(share * h * w))
    order = torch.rand(n, h * w, generator=torch.Generator().manual_seed(seed)).argsort(1)[:, :k]
    return torch.zeros(n, h * w, dtype=torch.bool).scatter_(1, order, True).view(shape)


@torch.no_grad()
def _prob(model: nn.Module, x: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    return model(x).float().softmax(1).gather(1, predicted.view(-1, 1).to(x.device))[:, 0].cpu()


def faithfulness(
    model: nn.Module, images: torch.Tensor, maps: torch.Tensor, predicted: torch.Tensor, seed: int = SEED
) -> torch.Tensor:
    """(N,) drop of the predicted class's probability with the map's top pixels blurred out, minus
    the drop with random pixels blurred out (see the module docstring); NaN for an all-zero map."""
    was = model.training
    model.eval()
    try:
        soft = blurred(images)
        n, _, h, w = images.shape

        def without(mask: torch.Tensor) -> torch.Tensor:
            return _prob(model, torch.where(mask.view(n, 1, h, w).to(images.device), soft, images), predicted)

        p = _prob(model, images, predicted)
        score = (p - without(top_pixels(maps))) - (p - without(random_pixels((n, h, w), seed=seed)))
    finally:
        model.train(was)
    return torch.where(maps.flatten(1).amax(1) > 0, score, torch.full_like(score, math.nan))


def mean(values: torch.Tensor | np.ndarray) -> float | None:
    """The average without NaNs; None when nothing is left (JSON's null)."""
    a = np.asarray(values, dtype=float)
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else None


@dataclass(frozen=True)
class Look:
    """One model's maps of one domain's images, with the numbers per image."""

    model: str
    domain: str
    inputs: torch.Tensor  # (N, C, H, W) in [0, 1]: what the model saw
    cams: Cams
    glyph: torch.Tensor  # (N, H, W) bool
    strokes: torch.Tensor  # (N,) attention on strokes
    glyph_area: torch.Tensor  # (N,) the share an evenly spread map would score
    faithfulness: torch.Tensor  # (N,)
    labels: torch.Tensor | None  # (N,) true classes, when known

    @property
    def correct(self) -> torch.Tensor | None:
        return None if self.labels is None else self.cams.predicted == self.labels

    def first(self, n: int) -> Look:
        """The Look of the first `n` images (a smaller `sample` is the start of a larger one)."""
        c = self.cams
        return Look(
            self.model,
            self.domain,
            self.inputs[:n],
            Cams(c.maps[:n], c.predicted[:n], c.probs[:n], c.layer),
            self.glyph[:n],
            self.strokes[:n],
            self.glyph_area[:n],
            self.faithfulness[:n],
            None if self.labels is None else self.labels[:n],
        )

    def summary(self) -> dict:
        ok = self.correct
        return {
            "strokes": mean(self.strokes),
            "glyph_area": mean(self.glyph_area),
            "faithfulness": mean(self.faithfulness),
            "accuracy": None if ok is None else float(ok.float().mean()),
        }


def sample(domain, n: int, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`n` images of a `Domain` (a fixed-seed shuffle, so a smaller n takes the first of a larger
    one's) and their labels when the domain has them."""
    idx = torch.randperm(len(domain), generator=torch.Generator().manual_seed(seed))[:n]
    return domain.images[idx], (domain.labels[idx] if domain.labelled else None)


def look(
    classifier: Classifier,
    images: torch.Tensor,
    domain: str,
    labels: torch.Tensor | None = None,
    method: str = "gradcam",
    layer: str | None = None,
    model_name: str = "",
) -> Look:
    """`classifier`'s maps and numbers for uint8 `images` of `domain` ("source" or "target")."""
    x = classifier.prepare(images, domain)
    result = cams(classifier.model, x, method, layer)
    glyph = glyph_mask(x)
    return Look(
        model_name or classifier.name,
        domain,
        x,
        result,
        glyph,
        stroke_share(result.maps, glyph),
        glyph.flatten(1).float().mean(1),
        faithfulness(classifier.model, x, result.maps, result.predicted),
        labels,
    )


def summaries(looks: list[Look]) -> dict:
    """Per model, per number, per domain: ``{model: {"strokes": {"target": x, "source": y}, ...}}``."""
    out: dict = {}
    for lk in looks:
        for key, value in lk.summary().items():
            out.setdefault(lk.model, {}).setdefault(key, {})[lk.domain] = value
    return out
