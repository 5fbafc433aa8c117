"""`predict`: a submission CSV (``id,label``) for a target folder from a checkpoint or a `train --out`
folder; then one JSON object as the last line on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from explorer.errors import ExplorerError


def cmd_predict(args) -> int:
    from explorer.dann.predict import checkpoint_submission, load_for_prediction
    from explorer.dann.runfolder import shipped
    from explorer.data.domains import load_domain
    from explorer.devices import pick

    if bool(args.checkpoint) == bool(args.run):
        raise ExplorerError("Give --checkpoint FILE or --run DIR (a `train --out` folder), one of the two.")
    if args.run and not Path(args.run, "last.pt").is_file():
        raise ExplorerError(f"{args.run} is not a `train --out` folder (no last.pt).")
    device = pick(args.device)
    path = args.checkpoint or shipped(args.run, args.select).path
    models, ckpt = load_for_prediction(path, device)
    size = ckpt["config"]["image_size"]
    target = load_domain(args.target, size=size)
    for note in target.notes:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(checkpoint_submission(models, ckpt, target, device))
    print(
        json.dumps(
            {"out": args.out, "images": len(target), "skipped": len(target.skipped), "epoch": ckpt["epoch"]}
        )
    )
    return 0
