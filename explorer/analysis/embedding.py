"""Feature-space pictures of a checkpoint: features -> PCA(50) -> t-SNE (or PCA) in 2-D.

`sample_features` takes up to N source and N target images (a fixed-seed sample), prepares them
exactly as the run did (Canny on the source with the run's thresholds, grey target), and runs the
checkpoint's feature extractor over them in eval mode, in batches, on the device; it also keeps
the label predictor's predictions.

`embed` reduces the features with PCA to 50 dimensions, then to 2-D with openTSNE (FFT-accelerated
gradients, all cores) or stops at PCA's first two components. t-SNE keeps neighbourhoods, not
distances: clusters mean something, the space between them does not. The optimisation runs 125
early-exaggeration plus 250 normal iterations (half openTSNE's defaults) on a coarser FFT grid
(2 interpolation points in intervals twice as wide): on 10,000 DANN features that is 3x faster
than openTSNE's defaults at the same trustworthiness (0.959 at k = 10; bench/bench_embed.py).

Results are cached on disk in ``$EXPLORER_HOME/embeddings/<run id>-<key>.npz``, the key made
from the checkpoint file (path, size, modification time), the data, the sample and the method's
parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from explorer.dann.inputs import as_float, of_checkpoint, prepare_inputs
from explorer.dann.predict import load_for_prediction
from explorer.data.domains import Dataset
from explorer.devices import autocast, map_batches, pick, usable_cpus
from explorer.errors import ExplorerError
from explorer.store.home import subdir

METHODS = ("tsne", "pca")
BATCH = 1024


@dataclass(frozen=True)
class Features:
    features: np.ndarray  # (n_source + n_target, D) float32
    domain: np.ndarray  # 0 source, 1 target
    label: np.ndarray  # true label, -1 when unknown (unlabelled target)
    pred: np.ndarray  # the checkpoint's predicted class
    index: np.ndarray  # position in its domain
    classes: tuple[str, ...]
    epoch: int

    @property
    def target_acc(self) -> float | None:
        """Accuracy on the sampled target points; None when the target is unlabelled."""
        tgt = self.domain == 1
        return float((self.pred[tgt] == self.label[tgt]).mean()) if (self.label[tgt] >= 0).all() else None


def check_checkpoint(ckpt: dict, dataset: Dataset) -> None:
    """Refuse a checkpoint trained on other data, with a message that says which."""
    if ckpt["data"]["source"] != dataset.source.fingerprint or list(ckpt["arch"]["classes"]) != list(
        dataset.classes
    ):
        raise ExplorerError(
            f"This checkpoint was trained on other data (source fingerprint {ckpt['data']['source'][:8]}, "
            f"classes {', '.join(ckpt['arch']['classes'])}); the loaded dataset is {dataset.name} "
            f"({dataset.source.fingerprint[:8]}). "
            f"Load the run's dataset, at {ckpt['config']['image_size']} px."
        )


def sample_indices(n_total: int, n: int, seed: int) -> torch.Tensor:
    return torch.sort(torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n]).values


def sample_features(
    checkpoint: str | os.PathLike, dataset: Dataset, n: int, seed: int = 0, device: str = "auto"
) -> Features:
    if n < 1:
        raise ExplorerError("The sample size must be at least 1.")
    most = max(len(dataset.source), len(dataset.target))
    if n > most:
        raise ExplorerError(
            f"Sample size {n:,} is larger than the data ({len(dataset.source):,} source, "
            f"{len(dataset.target):,} target images); choose at most {most:,}."
        )
    dev = pick(device)
    models, ckpt = load_for_prediction(checkpoint, dev)
    check_checkpoint(ckpt, dataset)
    xs, xt = prepare_inputs(dataset, of_checkpoint(ckpt))
    idx_s = sample_indices(len(xs), n, seed)
    idx_t = sample_indices(len(xt), n, seed + 1)
    models.eval()

    def features_and_classes(x):
        with autocast(dev):
            f = models["feature"](as_float(x, dev))
            return f.float().cpu(), models["label"](f).argmax(1).cpu()

    feats, preds = map_batches(features_and_classes, torch.cat([xs[idx_s], xt[idx_t]]), BATCH)
    ys = dataset.source.labels[idx_s]
    yt = dataset.target.labels[idx_t] if dataset.target.labelled else torch.full((len(idx_t),), -1)
    return Features(
        features=feats.numpy(),
        domain=np.r_[np.zeros(len(idx_s), np.int64), np.ones(len(idx_t), np.int64)],
        label=torch.cat([ys, yt]).numpy(),
        pred=preds.numpy(),
        index=np.r_[idx_s.numpy(), idx_t.numpy()],
        classes=tuple(dataset.classes),
        epoch=int(ckpt["epoch"]),
    )


def reduce(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """PCA to (at most) 50 dimensions, the input of both t-SNE and the PCA view."""
    from sklearn.decomposition import PCA

    n = len(features)
    if n < 5:
        raise ExplorerError(f"{n} points are too few to embed; use at least 5.")
    return PCA(n_components=min(50, n, features.shape[1]), random_state=seed).fit_transform(
        features.astype(np.float32)
    )


def check_perplexity(n: int, perplexity: float) -> None:
    if not (1 <= perplexity < (n - 1) / 3):
        raise ExplorerError(
            f"Perplexity {perplexity:g} is too large for {n:,} points: it must be below (points - 1) / 3 = "
            f"{(n - 1) / 3:.0f}. Lower it or take more samples."
        )


# the coarser FFT grid
TSNE_GRID = dict(negative_gradient_method="fft", n_interpolation_points=2, ints_in_interval=2)


def embed(features: np.ndarray, method: str = "tsne", perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) float32."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown embedding method {method!r}; choose tsne or pca.")
    x = reduce(features, seed)
    if method == "pca":
        return np.ascontiguousarray(x[:, :2], dtype=np.float32)
    check_perplexity(len(x), perplexity)
    from openTSNE import TSNE

    tsne = TSNE(
        perplexity=perplexity,
        n_jobs=usable_cpus(),
        early_exaggeration_iter=125,
        n_iter=250,
        random_state=seed,
        **TSNE_GRID,
    )
    return np.asarray(tsne.fit(x), dtype=np.float32)


def cache_key(
    checkpoint: str | os.PathLike, dataset: Dataset, n: int, seed: int, method: str, perplexity: float
) -> str:
    try:
        st = Path(checkpoint).stat()
    except FileNotFoundError:
        raise ExplorerError(
            f"{Path(checkpoint).name} is no longer in the checkpoint cache (cleared, or removed to keep "
            "the cache under its size cap); train the run again to see it."
        ) from None
    parts = [
        str(Path(checkpoint).resolve()),
        st.st_size,
        st.st_mtime_ns,
        dataset.fingerprint,
        n,
        seed,
        method,
        perplexity,
    ]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class Embedding:
    coords: np.ndarray
    features: Features
    seconds: float  # extraction + embedding when computed; 0 from the cache
    cached: bool


def embedding(
    checkpoint,
    dataset: Dataset,
    n: int,
    method: str = "tsne",
    perplexity: float = 30.0,
    seed: int = 0,
    device: str = "auto",
) -> Embedding:
    """Features and 2-D coordinates for a checkpoint, from the disk cache when they are there."""
    key = cache_key(checkpoint, dataset, n, seed, method, perplexity)
    # run id first: see explorer.store.cache
    path = subdir("embeddings") / f"{Path(checkpoint).parent.name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                f = Features(
                    z["features"],
                    z["domain"],
                    z["label"],
                    z["pred"],
                    z["index"],
                    tuple(z["classes"].tolist()),
                    int(z["epoch"]),
                )
                return Embedding(z["coords"], f, 0.0, True)
        except (OSError, ValueError, KeyError):
            pass  # a broken cache entry is recomputed
    t0 = time.perf_counter()
    f = sample_features(checkpoint, dataset, n, seed, device)
    coords = embed(f.features, method, perplexity, seed)
    seconds = time.perf_counter() - t0
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.npz")
    np.savez(tmp, coords=coords, **(vars(f) | {"classes": np.array(f.classes)}))
    os.replace(tmp, path)
    return Embedding(coords, f, seconds, False)
