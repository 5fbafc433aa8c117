"""Decode one image file into a square uint8 array, whatever its format or mode.

Every image the app loads passes through `read_image`, so every odd file is handled once:

* limits are checked from the header, before any pixel is decoded: more than `MAX_PIXELS`
  pixels (a decompression bomb) or a side shorter than `MIN_SIDE` is refused;
* modes are normalised: 16-bit and 32-bit grey are scaled to 8 bits (x / 257), palette and
  alpha images are composited over white, CMYK/YCbCr/LAB become RGB; an animated GIF gives
  its first frame; EXIF orientation is applied;
* the result is resized so its shorter side is `size`, then centre-cropped to `size` x `size`
  (objects keep their aspect ratio, as torchvision's Resize + CenterCrop).

Anything that fails raises `ImageError` whose message says what is wrong with the file.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.errors import DataError

MAX_PIXELS = 40_000_000  # 40 MP; PIL's own guard only warns at 89 MP
MIN_SIDE = 8
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


class ImageError(DataError):
    """One file that is not a usable image; the message names the reason."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mode: str
    frames: int = 1


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def read_image(source: str | os.PathLike | bytes, size: int = 32) -> tuple[np.ndarray, ImageInfo]:
    """Return ``(pixels, info)``: pixels is ``(size, size, 1)`` for grey images, else ``(size, size, 3)``."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("empty file (0 bytes)")
        fp = io.BytesIO(source)
    else:
        if os.path.getsize(source) == 0:
            raise ImageError("empty file (0 bytes)")
        fp = source
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp)
        except UnidentifiedImageError:
            raise ImageError("not an image (unknown format)") from None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"unreadable image ({e})") from None
        with img:
            return prepare_image(img, size)


def prepare_image(img: Image.Image, size: int) -> tuple[np.ndarray, ImageInfo]:
    """Check limits, normalise the mode and resize an opened PIL image (see the module docstring)."""
    w, h = img.size
    info = ImageInfo(w, h, img.mode, getattr(img, "n_frames", 1))
    if w * h > MAX_PIXELS:
        raise ImageError(f"too large: {w}x{h} pixels (limit {MAX_PIXELS // 1_000_000} megapixels)")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"too small: {w}x{h} pixels (each side needs at least {MIN_SIDE})")
    try:
        if info.frames > 1:
            img.seek(0)
        if img.format == "JPEG":
            img.draft("RGB" if img.mode != "L" else "L", (size, size))  # decode big JPEGs at reduced scale
        img.load()
        img = ImageOps.exif_transpose(img)
        img = _to_8bit(img)
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(f"corrupt or truncated image ({e})") from None
    img = ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels, info


def _to_8bit(img: Image.Image) -> Image.Image:
    """Return an 'L' or 'RGB' image."""
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        a = np.asarray(img).astype(np.float64)
        if mode != "F" and a.max(initial=0) > 255:
            a = a / 257.0  # 16-bit range 0..65535 onto 0..255
        return Image.fromarray(np.clip(a, 0, 255).round().astype(np.uint8), "L")
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "RGBa", "LA", "La"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
        return rgb.convert("L") if mode in ("LA", "La") else rgb
    if mode in ("1", "L"):
        return img.convert("L")
    return img.convert("RGB")
