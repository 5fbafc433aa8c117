"""Warm-started embeddings: a frame of the training movie placed from the frame before it, so that
consecutive epochs can be compared point by point.

Independent t-SNE maps of two epochs cannot be compared: each has its own rotation, reflection and
layout. Here the first frame is an ordinary embedding (`explorer.analysis.embedding.embed`), and
every later one starts from the previous frame's coordinates, with affinities from an exact k-NN
search (3.4x faster than Annoy's index at 4,000 points, and the movie computes one per frame), and
runs `SCHEDULE`: 80 iterations at exaggeration 4, then 40 plain ones. openTSNE's early exaggeration
(12, for 250 iterations) exists to untangle a random start and would restart the layout; none at all
keeps the layout but leaves it stuck with the previous epoch's clusters (trustworthiness 0.89
against 0.98 for independent maps); a third of it for 80 iterations lets the clusters regroup while
the layout stays (0.97, and still 6x steadier than independent maps; bench/bench_movie.py). So a
point whose features did not move barely moves on screen.

In PCA mode each frame's two components are turned onto the previous frame by orthogonal
Procrustes: the orthogonal ``R`` minimising ``||(Y - mean Y) R - (P - mean P)||_F``, the rotation
or reflection that fits best in least squares, then moved onto the previous frame's centre.

`jitter` measures how steady a sequence of frames is (bench/bench_movie.py compares schedules by it).
"""

from __future__ import annotations

import numpy as np

from explorer.analysis.embedding import TSNE_GRID, check_perplexity, embed, reduce
from explorer.devices import usable_cpus

SCHEDULE = ((80, 4.0), (40, None))  # (iterations, exaggeration) of every frame after the first: see above


def procrustes(y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`y` turned (rotated or reflected, not scaled) about its centre to fit `reference`, and moved
    onto its centre."""
    from scipy.linalg import orthogonal_procrustes

    a, centre = y - y.mean(0), reference.mean(0)
    r, _ = orthogonal_procrustes(a, reference - centre)
    return (a @ r + centre).astype(np.float32)


def next_frame(
    previous: np.ndarray | None, features: np.ndarray, method: str, perplexity: float, seed: int
) -> np.ndarray:
    """2-D coordinates of `features`: an ordinary embedding for the first frame, else one that starts
    from `previous`."""
    if previous is None:
        return embed(features, method, perplexity, seed)
    x = reduce(features, seed)
    if method == "pca":
        return procrustes(x[:, :2], previous)
    check_perplexity(len(x), perplexity)
    from openTSNE import TSNEEmbedding, affinity

    jobs = usable_cpus()
    affinities = affinity.PerplexityBasedNN(
        x, perplexity=perplexity, method="exact", n_jobs=jobs, random_state=seed, verbose=False
    )
    emb = TSNEEmbedding(previous.astype(np.float64), affinities, n_jobs=jobs, random_state=seed, **TSNE_GRID)
    for iterations, exaggeration in SCHEDULE:
        emb = emb.optimize(n_iter=iterations, exaggeration=exaggeration, momentum=0.8)
    return np.asarray(emb, dtype=np.float32)


def jitter(frames: list[np.ndarray]) -> float:
    """How much the picture moves between consecutive frames: the median distance a point travels,
    over the extent of the map it lands in (the diagonal of its 1st-99th percentile box); the median
    over consecutive pairs. Unaligned t-SNE maps score about 0.3-0.5 whatever the features did."""
    steps = []
    for a, b in zip(frames, frames[1:]):
        extent = np.linalg.norm(np.percentile(b, 99, 0) - np.percentile(b, 1, 0))
        steps.append(np.median(np.linalg.norm(b - a, axis=1)) / extent)
    return float(np.median(steps))
