"""Shared fixtures: an isolated EXPLORER_HOME per test, a small builtin pair to train on, and makers
of small image folders."""

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def explorer_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EXPLORER_HOME", str(home))
    # no test reaches the internet; download tests serve locally
    monkeypatch.setenv("EXPLORER_ALLOW_DOWNLOADS", "0")
    return home


def png_bytes(color=(200, 30, 30), size=(16, 16), mode="RGB", fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, color=(200, 30, 30), size=(16, 16), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".bmp": "BMP", ".jpg": "JPEG"}.get(path.suffix, "PNG")
    Image.new(mode, size, color).save(path, format=fmt)
    return path


def make_image_folder(
    root: Path, classes=("cat", "dog"), per_class=3, mode="RGB", size=(16, 16), ext=".png"
) -> Path:
    """root/<class>/<i>.png, each class its own colour."""
    for k, c in enumerate(classes):
        for i in range(per_class):
            color = (40 * k + 10, 20 * i, 100) if mode == "RGB" else 40 * k + 10
            write_image(root / c / f"{i:03d}{ext}", color, size, mode)
    return root


def make_homework_layout(root: Path, per_class=2, n_target=5) -> Path:
    """real_or_drawing/: train_data/<0..9>/*.bmp 32x32 RGB, test_data/0/*.bmp 28x28 grey."""
    for k in range(10):
        for i in range(per_class):
            write_image(
                root / "train_data" / str(k) / f"{k * per_class + i}.bmp", (k * 20, i * 50, 80), (32, 32)
            )
    for i in range(n_target):
        write_image(root / "test_data" / "0" / f"{i:05d}.bmp", i * 40, (28, 28), "L")
    return root


def zip_folder(folder: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(folder).as_posix())
    return dest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def every_third(d):
    """A third of a domain, every class kept: the same kind of data, a third of the work."""
    return replace(
        d,
        images=d.images[::3],
        labels=None if d.labels is None else d.labels[::3],
        files=d.files[::3],
        sizes=d.sizes[::3],
        modes=d.modes[::3],
        ids=None if d.ids is None else d.ids[::3],
    )


@pytest.fixture(scope="session")
def data16():
    """The builtin pair at 16 pixels, every third image (300 a domain): what a test that trains needs
    of the real data (colour photos against grey drawings, ten classes), at a third of the work."""
    from explorer.data.builtin import load_builtin
    from explorer.data.domains import Dataset

    full = load_builtin(16)
    return Dataset(full.name, every_third(full.source), every_third(full.target))
