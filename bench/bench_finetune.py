"""Head-only fine-tuning: cached frozen features against running the frozen backbone every epoch.

    python -m bench.bench_finetune [--backbone resnet18] [--epochs 4] [--size 32]

Both runs train only the new head of the same backbone on the embedded source domain, same batches.
Reference (same run): the backbone runs forward on every batch of every epoch. Ours: its features
are computed once, in the first epoch, and later epochs train the head on them.
"""

import argparse
import os
import platform
import tempfile

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()
    os.environ["EXPLORER_HOME"] = tempfile.mkdtemp(prefix="bench-ft-")
    from explorer.data.builtin import load_builtin
    from explorer.devices import describe, pick
    from explorer.transfer.finetune import FinetuneConfig, FineTuner

    domain = load_builtin(args.size).source
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; device: {describe(pick('auto'))}; torch "
        f"{torch.__version__}"
    )
    result = {}
    for cached in (False, True):
        cfg = FinetuneConfig(
            backbone=args.backbone, weights="random", freeze="head", epochs=args.epochs, cache_features=cached
        )
        done = list(FineTuner(cfg, domain).events())[-1]
        result[cached] = done.seconds_per_epoch
        print(
            f"{'cached features' if cached else 'backbone every epoch'}: first epoch "
            f"{done.seconds_per_epoch['first']:.3f} s, "
            f"later epochs {done.seconds_per_epoch['later']:.4f} s"
        )
    print(
        f"{args.backbone} at {args.size} px, {len(domain)} images: later epochs "
        f"{result[False]['later'] / result[True]['later']:.0f}x faster with cached features"
    )


if __name__ == "__main__":
    main()
