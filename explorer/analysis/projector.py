"""Exports of an embedding: a coordinates CSV and TensorBoard projector files.

The projector (TensorBoard's, or projector.tensorflow.org with "Load") reads:
``vectors.tsv`` (one feature vector per line), ``metadata.tsv`` (a header, then one row per point),
``sprite.png`` (all thumbnails in one square grid, row-major) and ``projector_config.pbtxt``.
"""

from __future__ import annotations

import io
import math
import zipfile

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from explorer.analysis.embedding import Embedding
from explorer.data.domains import Dataset


def points(emb: Embedding, dataset: Dataset) -> pd.DataFrame:
    """One row per embedded point: x, y, domain, class (true, or predicted for an unlabelled target), ..."""
    f = emb.features
    names = np.array(f.classes)
    files = [(dataset.source if d == 0 else dataset.target).files[i] for d, i in zip(f.domain, f.index)]
    known = f.label >= 0
    return pd.DataFrame(
        {
            "x": emb.coords[:, 0],
            "y": emb.coords[:, 1],
            "domain": np.where(f.domain == 0, "source", "target"),
            "class": np.where(known, names[np.maximum(f.label, 0)], names[f.pred]),
            "class_from": np.where(known, "label", "prediction"),
            "prediction": names[f.pred],
            "file": files,
        }
    )


def coords_csv(emb: Embedding, dataset: Dataset) -> str:
    return points(emb, dataset).to_csv(index=False)


def _thumbs(emb: Embedding, dataset: Dataset) -> list[np.ndarray]:
    out = []
    for d, i in zip(emb.features.domain, emb.features.index):
        img = (dataset.source if d == 0 else dataset.target).images[i].permute(1, 2, 0).numpy()
        out.append(np.repeat(img, 3, 2) if img.shape[2] == 1 else img)
    return out


def sprite(emb: Embedding, dataset: Dataset) -> tuple[Image.Image, int]:
    thumbs = _thumbs(emb, dataset)
    side = math.ceil(math.sqrt(len(thumbs)))
    size = min(thumbs[0].shape[0], 8192 // side)  # TensorBoard reads sprites up to 8192 px a side
    if size != thumbs[0].shape[0]:
        thumbs = [cv2.resize(t, (size, size), interpolation=cv2.INTER_AREA) for t in thumbs]
    sheet = np.zeros((side * size, side * size, 3), np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, side)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = t
    return Image.fromarray(sheet), size


def projector_zip(emb: Embedding, dataset: Dataset) -> bytes:
    """vectors.tsv, metadata.tsv, sprite.png and projector_config.pbtxt in one zip."""
    df = points(emb, dataset)
    vectors = "\n".join("\t".join(f"{v:.5g}" for v in row) for row in emb.features.features) + "\n"
    meta = df[["domain", "class", "prediction", "file"]].to_csv(sep="\t", index=False)
    image, size = sprite(emb, dataset)
    png = io.BytesIO()
    image.save(png, format="PNG")
    config = (
        'embeddings {\n  tensor_path: "vectors.tsv"\n  metadata_path: "metadata.tsv"\n'
        '  sprite {\n    image_path: "sprite.png"\n'
        f"    single_image_dim: {size}\n    single_image_dim: {size}\n  }}\n}}\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("vectors.tsv", vectors)
        zf.writestr("metadata.tsv", meta)
        zf.writestr("sprite.png", png.getvalue())
        zf.writestr("projector_config.pbtxt", config)
    return buf.getvalue()
