"""Data-layer timings: the embedded default (cold and cached) and loading a homework-sized folder.

    python -m bench.bench_data [--n-source 5000] [--n-target 10000]

The folder reference, measured in the same run, is the homework's way of reading images:
torchvision ImageFolder with a per-sample transform (Resize + CenterCrop + ToTensor), one image
at a time. The engine's way is `explorer.data.domains.load_domain` (threads, one uint8 tensor).
"""

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def make_folder(root: Path, n_source: int, n_target: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n_source):
        d = root / "train_data" / str(i % 10)
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.bmp")
    (root / "test_data" / "0").mkdir(parents=True)
    for i in range(n_target):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(
            root / "test_data" / "0" / f"{i:05d}.bmp"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-source", type=int, default=5000)
    ap.add_argument("--n-target", type=int, default=10000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-data-"))
    os.environ["EXPLORER_HOME"] = str(work / "home")
    from explorer.data import builtin
    from explorer.data.domains import open_dataset

    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, torch {torch.__version__}")
    _, imp = timed(lambda: __import__("sklearn.datasets"))
    _, cold = timed(builtin.load_builtin)
    _, warm = timed(builtin.load_builtin)
    print(
        f"embedded default: importing scikit-learn {imp:.2f} s, then build + disk cache {cold:.2f} s, "
        f"then cached {warm:.2f} s (cold/cached {cold / warm:.1f}x)"
    )

    make_folder(work / "hw", args.n_source, args.n_target)
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.Resize(32), transforms.CenterCrop(32), transforms.ToTensor()])

    def reference():
        out = []
        for name in ("train_data", "test_data"):
            ds = datasets.ImageFolder(str(work / "hw" / name), transform=tf)
            out.append(torch.stack([ds[i][0] for i in range(len(ds))]))
        return out

    _, ref = timed(reference)
    ds, ours = timed(lambda: open_dataset(work / "hw"))
    n = len(ds.source) + len(ds.target)
    print(
        f"folder of {n:,} images: ImageFolder per-sample loop {ref:.2f} s ({n / ref:,.0f} img/s), "
        f"load_domain {ours:.2f} s ({n / ours:,.0f} img/s), ratio {ref / ours:.1f}x"
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
