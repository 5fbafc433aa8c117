"""`finetune`: a pretrained torchvision backbone fine-tuned on a labelled folder, into --out
(model.pt, metrics.jsonl, config.json); an epoch line per epoch on stderr, then one JSON object as
the last line on stdout."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from explorer.cli.common import config_from, download_imagenet
from explorer.errors import ExplorerError


def cmd_finetune(args) -> int:
    import torch

    from explorer.data.builtin import load_builtin
    from explorer.data.domains import load_domain
    from explorer.transfer.events import FinetuneEpoch
    from explorer.transfer.finetune import FinetuneConfig, FineTuner

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExplorerError(f"--out {out} is a file; give a folder.")
    weights = args.weights if args.weights in ("imagenet", "random") else str(Path(args.weights))
    config = config_from(FinetuneConfig, args, weights=weights)
    if weights == "imagenet":
        download_imagenet(config.backbone)
    domain = (
        load_builtin(args.image_size).source
        if args.data == "builtin"
        else load_domain(args.data, size=args.image_size)
    )
    tuner = FineTuner(config, domain)
    final, lines = None, []
    for event in tuner.events():
        if isinstance(event, FinetuneEpoch):
            lines.append(json.dumps(event.to_dict()))
            print(
                f"epoch {event.epoch}/{config.epochs} loss {event.train_loss:.3f} val {event.val_acc:.3f} "
                f"{event.seconds:.2f}s",
                file=sys.stderr,
            )
        elif event.final:
            final = event
    out.mkdir(parents=True, exist_ok=True)
    torch.save(tuner.model.state_dict(), out / "model.pt")
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    summary = {k: v for k, v in asdict(final).items() if k not in ("config", "model_path")}
    (out / "config.json").write_text(json.dumps(final.config | {"classes": list(domain.classes)}, indent=2))
    print(json.dumps(summary | {"out": str(out)}))
    return 0
