"""Class-activation maps as one picture: a row per image, the input then each model's map over what
that model saw, with the predicted and true class under each map and a red frame round a wrong one.

Maps are drawn with OpenCV's JET colours (blue: nothing, red: the map's peak) blended half and half
with the model's own input (edges when its run drew edges), enlarged with nearest neighbours so
the map's cells stay visible as the model computed them.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from explorer.analysis.cam_metrics import Look
from explorer.data.grids import BACKGROUND, INK

WRONG = (220, 30, 30)
FRAME = 3  # pixels of the red frame round a wrong prediction
ALPHA = 0.5  # weight of the colours over the input


def _rgb(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    a = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a


def overlay(image: torch.Tensor, cam: torch.Tensor, tile: int) -> np.ndarray:
    """One (C, H, W) input in [0, 1] and its (H, W) map in [0, 1] as a `tile` x `tile` RGB picture."""
    heat = cv2.applyColorMap(
        (cam.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy(), cv2.COLORMAP_JET
    )[:, :, ::-1]
    mixed = (1 - ALPHA) * _rgb(image).astype(np.float32) + ALPHA * heat.astype(np.float32)
    return _enlarge(mixed.round().astype(np.uint8), tile)


def _enlarge(a: np.ndarray, tile: int) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(a), (tile, tile), interpolation=cv2.INTER_NEAREST)


def cam_grid(
    shown: torch.Tensor, looks: list[Look], classes: tuple[str, ...], tile: int = 96, title: str = ""
) -> np.ndarray:
    """`shown` (N, C, H, W) uint8 images as loaded; `looks` one per model, of those same images.
    Returns (height, width, 3) uint8: a header, then one row per image: input | map per model."""
    font = ImageFont.load_default(size=max(10, tile // 8))
    line = int(font.size * 1.3)
    cols, n = 1 + len(looks), shown.shape[0]
    cell_w, cell_h = tile + 2 * FRAME + 6, tile + 2 * FRAME + 2 * line + 4
    head = line * (2 if title else 1) + 4
    sheet = Image.new("RGB", (cols * cell_w, head + n * cell_h), (BACKGROUND,) * 3)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 2), title, fill=INK, font=font)
    for c, name in enumerate(["input", *(lk.model for lk in looks)]):
        draw.text((c * cell_w + FRAME, head - line - 2), _fit(name, font, cell_w - 4), fill=INK, font=font)
    for i in range(n):
        y = head + i * cell_h
        sheet.paste(Image.fromarray(_enlarge(_rgb(shown[i].float() / 255), tile)), (FRAME, y + FRAME))
        truth = _true(looks, i, classes)
        if truth:
            draw.text((FRAME, y + tile + 2 * FRAME + 1), f"true {truth}", fill=INK, font=font)
        for c, lk in enumerate(looks, start=1):
            _cell(draw, sheet, (c * cell_w, y), lk, i, classes, tile, font, line)
    return np.asarray(sheet)


def _cell(draw, sheet, at, lk: Look, i: int, classes, tile: int, font, line: int) -> None:
    x, y = at
    correct = lk.correct
    wrong = correct is not None and not bool(correct[i])
    if wrong:
        draw.rectangle((x, y, x + tile + 2 * FRAME - 1, y + tile + 2 * FRAME - 1), fill=WRONG)
    sheet.paste(Image.fromarray(overlay(lk.inputs[i], lk.cams.maps[i], tile)), (x + FRAME, y + FRAME))
    k = int(lk.cams.predicted[i])
    p = float(lk.cams.probs[i, k])
    draw.text(
        (x + FRAME, y + tile + 2 * FRAME + 1),
        f"pred {classes[k]} ({p:.0%})",
        fill=WRONG if wrong else INK,
        font=font,
    )
    share = float(lk.strokes[i])
    text = "strokes -" if share != share else f"strokes {share:.0%}"
    draw.text((x + FRAME, y + tile + 2 * FRAME + 1 + line), text, fill=INK, font=font)


def _true(looks: list[Look], i: int, classes) -> str:
    labels = next((lk.labels for lk in looks if lk.labels is not None), None)
    return "" if labels is None else str(classes[int(labels[i])])


def _fit(text: str, font, width: int) -> str:
    while text and font.getlength(text) > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text


def side_by_side(pictures: list[np.ndarray], gap: int = 16) -> np.ndarray:
    """Pictures next to each other, tops aligned, on white."""
    h = max(p.shape[0] for p in pictures)
    w = sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1)
    out = np.full((h, w, 3), BACKGROUND, np.uint8)
    x = 0
    for p in pictures:
        out[: p.shape[0], x : x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out
