"""DANN training throughput: the homework's input pipeline against the engine, same model, same batch.

    python -m bench.bench_train [--device auto] [--width 1] [--batch-size 256] [--n-source 2048]

Reference (measured in the same run): the homework's loop. torchvision ImageFolder over image
files, a per-sample PIL transform (Grayscale, cv2.Canny, Resize, RandomHorizontalFlip,
RandomRotation(15), ToTensor) in a DataLoader, then the two-step DANN update (domain classifier on
detached features, then feature extractor + label predictor with CE - lambda * BCE).

Engine: `explorer.dann.trainer.Trainer` on the same files: both domains as uint8 tensors on the device,
Canny once, flip + rotation batched on the device, the step on its speed path (explorer/dann/speed.py).
Both with Canny 170/300 on the source and flips + rotations, as the homework seeds train.

Prints source images per second for each, their ratio, and what the homework's full schedule
(1,000 epochs of 5,000 source images) would take at the engine's rate.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def make_folders(root: Path, n: int) -> tuple[Path, Path]:
    """Homework-shaped data: n 32x32 RGB source images in 10 classes, n 28x28 grey target images."""
    rng = np.random.default_rng(0)
    src, tgt = root / "train_data", root / "test_data" / "0"
    for i in range(n):
        (src / str(i % 10)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            src / str(i % 10) / f"{i}.bmp"
        )
    tgt.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tgt / f"{i:05d}.bmp")
    return src, tgt.parent


def homework_loaders(src: Path, tgt: Path, batch: int, workers: int):
    """The homework's input pipeline, a DataLoader per domain: ImageFolder, per-sample PIL transforms."""
    from torchvision import datasets
    from torchvision import transforms as T

    # both domains: 32 x 32, flipped and turned up to 15 degrees at random
    augment = [T.Resize((32, 32)), T.RandomHorizontalFlip(), T.RandomRotation(15, fill=(0,)), T.ToTensor()]
    canny = T.Lambda(lambda x: cv2.Canny(np.array(x), 170, 300))
    source_tf = T.Compose([T.Grayscale(), canny, T.ToPILImage(), *augment])
    target_tf = T.Compose([T.Grayscale(), *augment])

    def loader(folder: Path, transform):
        return torch.utils.data.DataLoader(
            datasets.ImageFolder(str(folder), transform=transform),
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            drop_last=True,
        )

    return loader(src, source_tf), loader(tgt, target_tf)


def reference(
    src: Path, tgt: Path, width: float, batch: int, steps: int, device: torch.device, workers: int
) -> float:
    """The homework's loop for `steps` steps after 2 warm-up steps; returns source images per second."""
    from explorer.dann.models import build

    sl, tl = homework_loaders(src, tgt, batch, workers)
    m = build(1, 10, width).to(device)
    opt_f = torch.optim.Adam(list(m["feature"].parameters()) + list(m["label"].parameters()), lr=1e-3)
    opt_d = torch.optim.Adam(m["domain"].parameters(), lr=1e-3)
    done, t0 = 0, None
    while True:
        for (xs, ys), (xt, _) in zip(sl, tl):
            if done == 2:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            xs, ys, xt = xs.to(device), ys.to(device), xt.to(device)
            d = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(device)
            f = m["feature"](torch.cat([xs, xt]))
            loss_d = F.binary_cross_entropy_with_logits(m["domain"](f.detach()), d)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            adversarial = F.binary_cross_entropy_with_logits(m["domain"](f), d)
            loss = F.cross_entropy(m["label"](f[: len(xs)]), ys) - 0.1 * adversarial
            opt_f.zero_grad()
            loss.backward()
            opt_f.step()
            done += 1
            if done == steps + 2:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                return steps * batch / (time.perf_counter() - t0)


def engine(src: Path, tgt: Path, width: float, batch: int, epochs: int, device: str) -> tuple[float, str]:
    """The engine for `epochs` epochs; returns source images per second over the epochs after the first."""
    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.data.domains import load_domain, pair

    data = pair(load_domain(src), load_domain(tgt))
    config = TrainConfig(
        width=width,
        batch_size=batch,
        epochs=epochs,
        lambda_schedule="constant",
        lamb=0.1,
        canny=(170, 300),
        augment="flip-rotate",
        device=device,
    )
    trainer = Trainer(config, data, Path(os.environ["EXPLORER_HOME"]) / "run")
    events = [e for e in trainer.events() if e["kind"] == "epoch"][1:]
    imgs = sum(e["img_per_s"] * e["seconds"] for e in events)
    return imgs / sum(e["seconds"] for e in events), trainer.device.type


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--n-source", type=int, default=2048, help="images per domain (5000 in the homework)")
    ap.add_argument("--epochs", type=int, default=3, help="engine epochs (the first is warm-up)")
    ap.add_argument("--ref-steps", type=int, default=6, help="reference steps timed (after 2 warm-up steps)")
    ap.add_argument(
        "--workers", type=int, default=0, help="reference DataLoader workers (the homework used 0)"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["EXPLORER_HOME"] = str(work / "home")
    from explorer.dann.speed import machine as cpu_name
    from explorer.devices import describe, pick, usable_cpus

    device = pick(args.device)
    machine = f"{cpu_name('cpu')}, {usable_cpus()} usable cores"
    print(f"machine: {machine}; device: {describe(device)}; torch {torch.__version__}")
    model = f"homework DANN at width {args.width}, batch {args.batch_size}"
    print(f"model: {model}, {args.n_source} images per domain")
    src, tgt = make_folders(work / "data", args.n_source)
    ref = reference(src, tgt, args.width, args.batch_size, args.ref_steps, device, args.workers)
    ours, _ = engine(src, tgt, args.width, args.batch_size, args.epochs, args.device)
    full = 1000 * 5000 / ours
    print(f"reference (homework loop): {ref:,.0f} source img/s")
    print(f"engine: {ours:,.0f} source img/s")
    print(f"ratio engine/reference: {ours / ref:.1f}x")
    print(f"homework full schedule (1,000 epochs x 5,000 source images) at the engine's rate: {full:,.0f} s")


if __name__ == "__main__":
    main()
