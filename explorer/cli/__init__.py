"""``python -m explorer``: the same engine as the app, for scripts, benchmarks and slides.

    python -m explorer train (--data builtin | --source SRC --target TGT) --out DIR [options]
    python -m explorer sweep (--data builtin | --source SRC --target TGT) --out DIR
        --grid lamb=0,0.1,1 canny=auto,off [--seeds N] [train options]
    python -m explorer embed (--run DIR | --checkpoint C (--data builtin | --source SRC --target TGT))
        --out coords.csv
    python -m explorer activations --image IMG [--model resnet18] [--weights imagenet|random|PATH]
        [--layer conv1] --out grid.png
    python -m explorer cam --run DIR [--twin DIR] [--data builtin | --source SRC --target TGT] [--n 16]
        [--method gradcam|scorecam] [--layer NAME] --out grid.png
    python -m explorer finetune --data DIR --backbone resnet18 [--weights imagenet|random|PATH]
        --freeze {head,from:layerN,none} --out DIR
    python -m explorer predict (--checkpoint C | --run DIR [--select V]) --target TGT --out submission.csv

`train` trains into DIR: config.json, metrics.jsonl (one JSON object per epoch), last.pt, best-*.pt and
epoch_NNNN.pt (the same files as a run in the app's cache; running it again with the same options
resumes or finds the run finished), then checkpoint.pt (the epoch --select picks) and submission.csv
(``id,label``). It shows a progress bar on stderr and prints one JSON object as its last line on
stdout. `sweep` trains every grid point x seed into DIR/runs/<run id>/ (the same files; finished runs
are not trained again, a stopped sweep resumes), writes DIR/results.csv, and prints one JSON object
(runs, seconds, best) as its last line. Bad arguments or data: one line on stderr, exit status 2.
"""

from __future__ import annotations

import sys

from explorer.cli.activations import cmd_activations
from explorer.cli.cam import cmd_cam
from explorer.cli.embed import cmd_embed
from explorer.cli.finetune import cmd_finetune
from explorer.cli.parser import build_parser
from explorer.cli.predict import cmd_predict
from explorer.cli.sweep import cmd_sweep
from explorer.cli.train import cmd_train
from explorer.devices import use_usable_cpus
from explorer.errors import ExplorerError

COMMANDS = {
    "train": cmd_train,
    "sweep": cmd_sweep,
    "embed": cmd_embed,
    "activations": cmd_activations,
    "cam": cmd_cam,
    "finetune": cmd_finetune,
    "predict": cmd_predict,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        use_usable_cpus()
        return COMMANDS[args.command](args)
    except ExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output path that cannot be written, a disk that is full
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the last finished epoch's checkpoint is kept.", file=sys.stderr)
        return 130
