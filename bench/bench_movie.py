"""The training movie: how steady the aligned frames are, and what the alignment costs.

    python -m bench.bench_movie [--n 2000] [--frames 10] [--device auto]

One 40-epoch default DANN run on the embedded pair, each domain tiled with pixel noise up to n
images; its first `frames` saved epochs, the same n + n sampled points in each. Two ways to draw them:

* independent: each epoch embedded on its own (`explorer.analysis.embedding.embed`, what the
  per-checkpoint view does): the reference, measured in the same run;
* aligned: `explorer.analysis.warmstart.next_frame` in a chain, every frame after the first starting
  from the one before: with the movie's `SCHEDULE`, and with as many iterations and no
  exaggeration at all.

Steadiness is `explorer.analysis.warmstart.jitter` (median displacement between consecutive frames over
the map's extent); cost is the whole sequence against one independent embedding (the median of
the frames); quality is trustworthiness (k = 10) against the PCA-50 features, on 2,000 points.
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="points per domain")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    os.environ["EXPLORER_HOME"] = tempfile.mkdtemp(prefix="bench-movie-")
    from bench.bench_embed import grown
    from explorer.data.builtin import load_builtin
    from explorer.devices import describe, pick

    data = grown(load_builtin(), args.n)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; device: {describe(pick(args.device))}; "
        f"torch {torch.__version__}"
    )
    feats = frame_features(data, args.n, args.frames, args.device)
    one = tsne_table(feats)
    pca_line(feats)
    print(f"one independent t-SNE embedding: {one:.2f} s (median of {len(feats)})")


def frame_features(data, n: int, frames: int, device: str) -> list[np.ndarray]:
    """Train the default run on `data`, then the same `n` sampled points' features at each of its
    first `frames` kept epochs."""
    from explorer.analysis import movie
    from explorer.analysis.embedding import sample_features
    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import train

    t = time.perf_counter()
    trainer, _ = train(TrainConfig(device=device), data, Path(os.environ["EXPLORER_HOME"]) / "run")
    print(
        f"trained 40 epochs on {len(data.source):,} + {len(data.target):,} images "
        f"in {time.perf_counter() - t:.0f} s"
    )
    files = movie.epoch_checkpoints(trainer.dir)[:frames]
    t = time.perf_counter()
    feats = [sample_features(p, data, n, device=device).features for p in files]
    extraction = (time.perf_counter() - t) / len(files)
    epochs = [int(p.stem[6:]) for p in files]
    print(
        f"{len(files)} frames (epochs {', '.join(map(str, epochs))}), {len(feats[0]):,} points each; "
        f"feature extraction {extraction:.2f} s a frame"
    )
    return feats


def tsne_table(feats: list[np.ndarray]) -> float:
    """The t-SNE frames as a markdown table: each frame embedded independently (the reference), then
    aligned with one warm-start phase and with the chosen schedule: jitter, time, trustworthiness.
    Returns the median seconds of one independent embedding."""
    from sklearn.manifold import trustworthiness

    from explorer.analysis import warmstart
    from explorer.analysis.embedding import embed, reduce

    sub = np.random.default_rng(0).choice(len(feats[0]), min(2000, len(feats[0])), replace=False)
    x50 = [reduce(f)[sub] for f in feats]

    def trust(frames):
        return statistics.mean(trustworthiness(x, y[sub], n_neighbors=10) for x, y in zip(x50, frames))

    independent, seconds = [], []
    for f in feats:
        t = time.perf_counter()
        independent.append(embed(f))
        seconds.append(time.perf_counter() - t)
    one = statistics.median(seconds)
    ref = warmstart.jitter(independent)
    print()
    print(
        "| t-SNE frames | jitter | steadier than independent | whole sequence | vs one embedding "
        "| trustworthiness |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| independent (reference) | {ref:.3f} | 1.0x | {sum(seconds):.1f} s | {sum(seconds) / one:.1f}x "
        f"| {trust(independent):.3f} |"
    )
    chosen = warmstart.SCHEDULE
    for schedule in (((sum(i for i, _ in chosen), None),), chosen):
        warmstart.SCHEDULE = schedule
        t, frames = time.perf_counter(), []
        for f in feats:
            frames.append(warmstart.next_frame(frames[-1] if frames else None, f, "tsne", 30.0, 0))
        total = time.perf_counter() - t
        j = warmstart.jitter(frames)
        name = " then ".join(f"{i} at exaggeration {e or 1:g}" for i, e in schedule)
        print(
            f"| aligned, {name} | {j:.3f} | {ref / j:.1f}x | {total:.1f} s | {total / one:.1f}x "
            f"| {trust(frames):.3f} |"
        )
    return one


def pca_line(feats: list[np.ndarray]) -> None:
    """PCA frames embedded independently against aligned by Procrustes: their jitter."""
    from explorer.analysis import warmstart
    from explorer.analysis.embedding import embed

    pca_ind = [embed(f, "pca") for f in feats]
    pca = []
    for f in feats:
        pca.append(warmstart.next_frame(pca[-1] if pca else None, f, "pca", 30.0, 0))
    print(
        f"\nPCA: jitter independent {warmstart.jitter(pca_ind):.3f}, "
        f"aligned by Procrustes {warmstart.jitter(pca):.3f} "
        f"({warmstart.jitter(pca_ind) / warmstart.jitter(pca):.1f}x steadier)"
    )


if __name__ == "__main__":
    main()
