"""Feature Space timing: 5,000 + 5,000 points, 512-d features, to 2-D.

    python -m bench.bench_embed [--n 5000] [--device auto]

Ours: feature extraction with the homework-width extractor (512-d) in batches on the device, then
`explorer.analysis.embedding.embed` (PCA to 50, openTSNE with FFT gradients, 125 + 250 iterations, all cores).
Reference, in the same run, on the same PCA-50 features: scikit-learn's TSNE with its defaults.
Both embeddings are scored with trustworthiness (k = 10) on the same 2,000-point subsample.
"""

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def grown(data, n: int):
    """The embedded digits, each domain tiled with pixel noise (±20) up to n images."""
    g = torch.Generator().manual_seed(0)

    def grow(d):
        reps = -(-n // len(d))
        x = d.images.repeat(reps, 1, 1, 1)[:n].int()
        x = (x + torch.randint(-20, 21, x.shape, generator=g)).clamp(0, 255).to(torch.uint8)
        return replace(d, images=x, labels=d.labels.repeat(reps)[:n], files=d.files * reps, ids=None)

    return replace(data, source=grow(data.source), target=grow(data.target))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--width", type=float, default=1.0, help="1.0: the homework extractor, 512-d features")
    args = ap.parse_args()
    os.environ["EXPLORER_HOME"] = tempfile.mkdtemp(prefix="bench-embed-")
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE, trustworthiness

    from explorer.analysis.embedding import embed, sample_features
    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.data.builtin import load_builtin
    from explorer.devices import describe, pick

    # the embedded digits, tiled with pixel noise up to n images per domain
    data = grown(load_builtin(), args.n)
    trainer = Trainer(
        TrainConfig(width=args.width, device=args.device), data, Path(os.environ["EXPLORER_HOME"]) / "run"
    )
    next(trainer.events())  # writes the epoch-0 checkpoint: the homework-width extractor, 512-d features
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; device: {describe(pick(args.device))}; "
        f"torch {torch.__version__}"
    )

    t0 = time.perf_counter()
    f = sample_features(trainer.dir / "epoch_0000.pt", data, args.n, device=args.device)
    t1 = time.perf_counter()
    ours = embed(f.features, "tsne")
    t2 = time.perf_counter()
    print(f"{len(f.features):,} points x {f.features.shape[1]} features")
    print(f"ours: extraction {t1 - t0:.2f} s + PCA/openTSNE {t2 - t1:.2f} s = {t2 - t0:.2f} s")

    x50 = PCA(n_components=50, random_state=0).fit_transform(f.features)
    t3 = time.perf_counter()
    ref = TSNE(n_components=2, random_state=0, n_jobs=-1).fit_transform(x50)
    t4 = time.perf_counter()
    print(f"reference: scikit-learn TSNE (defaults) on the same PCA-50 features {t4 - t3:.2f} s")
    print(f"ratio reference/ours (embedding only): {(t4 - t3) / (t2 - t1):.1f}x")
    sub = np.random.default_rng(0).choice(len(x50), 2000, replace=False)
    print(
        f"trustworthiness (k=10): ours {trustworthiness(x50[sub], ours[sub], n_neighbors=10):.3f}, "
        f"scikit-learn {trustworthiness(x50[sub], ref[sub], n_neighbors=10):.3f}"
    )


if __name__ == "__main__":
    main()
