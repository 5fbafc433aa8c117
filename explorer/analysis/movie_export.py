"""A training movie (`explorer.analysis.movie.Movie`) as files: a long table of points (CSV), and an
animated GIF drawn with PIL.

The table has one row per point per frame: ``epoch, index, domain, label, predicted, x, y``, with
class names, and an empty label where the target is unlabelled; the same points appear in the same
order in every epoch, so a reader can follow one point through training.

The GIF shows each frame as two panels on the same axes: by domain on the left, by class on the
right (the true class, or the predicted one for an unlabelled target), points whose prediction
changed since the previous frame ringed in black. All frames share one affine map from feature
coordinates to pixels (the movie's overall extent scaled into the panel with a 10 px margin, the y
axis pointing up), so motion on screen is motion of the points. Colours come from
`explorer.analysis.palette`, as on the page.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer.analysis import palette
from explorer.dann.results import percent

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

    from explorer.analysis.movie import Frame, Movie

COLUMNS = ["epoch", "index", "domain", "label", "predicted", "x", "y"]
TOP = 52  # pixels of text above the panels: the numbers, then the two legends
MARGIN = 10  # pixels between the points' extent and a panel's edge
GREY = "#555555"  # legend text


# ----------------------------------------------------------------------------------------- table
def table(mv: Movie) -> pd.DataFrame:
    """One row per point per frame: epoch, index, domain, label, predicted, x, y (class names; label
    empty when unknown)."""
    names = np.array(mv.classes)
    label = np.where(mv.label >= 0, names[np.maximum(mv.label, 0)], "")
    domain = np.where(mv.domain == 0, "source", "target")
    parts = [
        pd.DataFrame(
            {
                "epoch": f.epoch,
                "index": mv.index,
                "domain": domain,
                "label": label,
                "predicted": names[f.pred],
                "x": f.coords[:, 0],
                "y": f.coords[:, 1],
            }
        )
        for f in mv.frames
    ]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def csv(mv: Movie) -> str:
    """`table` as CSV text, coordinates to four decimals."""
    return table(mv).to_csv(index=False, float_format="%.4f")


# ------------------------------------------------------------------------------------------- GIF
def gif(mv: Movie, side: int = 360, ms_per_frame: int = 700) -> bytes:
    """An animated GIF, one frame per epoch: by domain on the left, by class (true, or predicted for
    an unlabelled target) on the right, points whose prediction changed ringed in black; the same
    axes in every frame, so motion on screen is motion of the points."""
    from PIL import ImageFont

    every = np.concatenate([f.coords for f in mv.frames])
    lo, hi = every.min(0), every.max(0)
    scale = (side - 2 * MARGIN) / max(float((hi - lo).max()), 1e-9)
    font = ImageFont.load_default(size=15)
    images = [_picture(mv, f, (f.coords - lo) * scale + MARGIN, side, font) for f in mv.frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


def _picture(mv: Movie, f: Frame, xy: np.ndarray, side: int, font: ImageFont.ImageFont) -> Image.Image:
    """One frame of the GIF: `xy` are the points' pixel positions within a panel, y measured upwards."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (2 * side, side + TOP), "white")
    draw = ImageDraw.Draw(img)
    cls = np.where(mv.label >= 0, mv.label, f.pred)
    panels = (
        (0, [palette.DOMAIN[d] for d in mv.domain]),
        (1, [palette.class_colour(c, len(mv.classes)) for c in cls]),
    )
    for panel, colours in panels:
        _points(draw, xy, colours, f.changed, panel * side, side)
    _captions(draw, f, side, font)
    draw.line((side, TOP, side, side + TOP), fill="#d2d2d2")
    return img


def _points(
    draw: ImageDraw.ImageDraw, xy: np.ndarray, colours: list[str], changed: np.ndarray, left: int, side: int
) -> None:
    """Dots of radius 2 in the panel starting at `left`, ringed in black where the prediction changed."""
    for (x, y), c, ring in zip(xy, colours, changed):
        x, y = x + left, side + TOP - y
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=c, outline="black" if ring else None)


def _captions(draw: ImageDraw.ImageDraw, f: Frame, side: int, font: ImageFont.ImageFont) -> None:
    """The frame's numbers on the first line; the domain legend and the class panel's key on the second."""
    acc = "" if f.target_acc is None else f" · target accuracy {percent(f.target_acc)}"
    draw.text(
        (8, 6),
        f"epoch {f.epoch} · domain mixing {f.mixing:.2f} · domain separation {f.a_distance:.2f}{acc}",
        fill="black",
        font=font,
    )
    draw.text((8, 28), "by domain:", fill=GREY, font=font)
    for k, (name, c) in enumerate(zip(("source", "target"), palette.DOMAIN)):
        x = 100 + 80 * k
        draw.ellipse((x, 33, x + 8, 41), fill=c)
        draw.text((x + 12, 28), name, fill=GREY, font=font)
    draw.text((side + 8, 28), "by class · ringed: prediction changed", fill=GREY, font=font)
