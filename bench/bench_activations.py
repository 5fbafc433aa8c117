"""Layer Activations timing: capture every conv output of ResNet18 and draw the 64 conv1 maps.

    python -m bench.bench_activations [--repeats 20]

Ours: `capture` (hooks on all 20 conv layers, one no_grad pass) + `map_grid` (one composed image).
References measured in the same run: the bare forward pass (no hooks, nothing drawn), and drawing
the 64 maps the per-map way, one PIL image each, normalised, coloured and pasted one at a time.
Medians of `--repeats` runs on a 224x224 input. The comparison view's cost: two models' capture +
grid, one after the other and side by side in two threads (as the page runs them), against one.
"""

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
from PIL import Image


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def per_map(maps: torch.Tensor) -> Image.Image:
    sheet = Image.new("RGB", (8 * 99, 8 * 99), "white")
    for k in range(64):
        m = maps[k].numpy()
        m = ((m - m.min()) / max(m.max() - m.min(), 1e-8) * 255).astype(np.uint8)
        tile = Image.fromarray(cv2.applyColorMap(m, cv2.COLORMAP_VIRIDIS)[:, :, ::-1]).resize(
            (96, 96), Image.NEAREST
        )
        sheet.paste(tile, ((k % 8) * 99, (k // 8) * 99))
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    from explorer.analysis.activations import capture, imagenet_input, map_grid
    from explorer.transfer.backbones import load_backbone

    model = load_backbone("resnet18", "random").model
    x = imagenet_input(np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads; "
        f"torch {torch.__version__}"
    )

    def bare():
        with torch.no_grad():
            model(x)

    ours = median_ms(lambda: map_grid(capture(model, x).maps["conv1"]), args.repeats)
    forward = median_ms(bare, args.repeats)
    maps = capture(model, x).maps["conv1"]
    grid = median_ms(lambda: map_grid(maps), args.repeats)
    naive = median_ms(lambda: per_map(maps), args.repeats)
    print(f"capture (all conv layers) + 8x8 conv1 grid: {ours:.0f} ms")
    print(
        f"reference: bare forward pass {forward:.0f} ms "
        f"(capture + grid costs {ours / forward:.2f}x a bare pass)"
    )
    print(
        f"drawing only: map_grid {grid:.0f} ms, per-map PIL loop {naive:.0f} ms (ratio {naive / grid:.2f}x)"
    )
    other = load_backbone("resnet18", "random").model
    pool = ThreadPoolExecutor(2)

    def one(m):
        return map_grid(capture(m, x).maps["conv1"])

    sequential = median_ms(lambda: [one(m) for m in (model, other)], args.repeats)
    side = median_ms(lambda: list(pool.map(one, (model, other))), args.repeats)
    print(
        f"two models (comparison view): one after the other {sequential:.0f} ms "
        f"({sequential / ours:.2f}x one), side by side in two threads {side:.0f} ms ({side / ours:.2f}x one)"
    )


if __name__ == "__main__":
    main()
