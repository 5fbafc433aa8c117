"""What `train` and `sweep` share: the config from the options, the data, the output folder, and
the Ray cluster when one is asked for; and the ImageNet weights download that `activations` and
`finetune` share."""

from __future__ import annotations

import shutil
import sys
from dataclasses import fields
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.errors import ExplorerError


def config_from(cls, args, **overrides):
    """A config dataclass from the arguments named like its fields, then `overrides`."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if f.name in vars(args)}
    return cls(**(given | overrides))


def dataset_of(args):
    from explorer.data.builtin import load_builtin
    from explorer.data.domains import open_dataset

    if args.data == "builtin":
        if args.source or args.target:
            raise ExplorerError("Give either --data builtin or --source/--target, not both.")
        return load_builtin(args.image_size)
    if not args.source:
        raise ExplorerError(
            "Give --data builtin, or --source (and --target unless the source folder holds both domains)."
        )
    return open_dataset(args.source, args.target, size=args.image_size)


def canny_of(args):
    if args.no_canny:
        return None
    if not args.canny or args.canny == ["auto"]:
        return "auto"
    if len(args.canny) == 1 and ":" in args.canny[0]:
        # a preprocessing in words, e.g. both:150/300 (what auto's options print)
        return args.canny[0]
    try:
        low, high = (int(v) for v in args.canny)
    except ValueError:
        raise ExplorerError(
            "--canny takes auto, two whole numbers LOW HIGH, or e.g. both:150/300 "
            f"(got {' '.join(args.canny)})."
        ) from None
    return (low, high)


def training_setup(args):
    """`train`'s and `sweep`'s shared part: the config from the options, the output folder, the
    data (its notes on stderr) and where it came from (recorded in config.json)."""
    augment = "none" if args.no_augment else args.augment
    config = config_from(TrainConfig, args, canny=canny_of(args), augment=augment)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExplorerError(f"--out {out} is a file; give a folder to write into.")
    dataset = dataset_of(args)
    for note in dataset.notes:
        print(f"note: {note}", file=sys.stderr)
    where = {
        "data": args.data,
        "source": args.source and str(Path(args.source).resolve()),
        "target": args.target and str(Path(args.target).resolve()),
    }
    return config, out, dataset, where


def cluster(args):
    """The Ray cluster that `--ray` or $EXPLORER_RAY_ADDRESS names, connected; None: train here."""
    from explorer.execution import ray_cluster

    address = ray_cluster.configured(args.ray)
    if address is None:
        return None
    found = ray_cluster.connect(address)
    print(found.describe(), file=sys.stderr)
    return found


def download_imagenet(name: str) -> None:
    """The ImageNet weights into the torch hub cache, if they are not there, with a tqdm bar on stderr
    (for `activations` and `finetune`)."""
    from tqdm import tqdm

    from explorer.transfer.backbones import ensure_imagenet, hub_file

    if hub_file(name).is_file():
        return
    with tqdm(desc=hub_file(name).name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr) as bar:

        def progress(got, total):
            bar.total = total
            bar.update(got - bar.n)

        ensure_imagenet(name, progress)


def outputs(args, out: Path, dataset, device_name: str) -> int:
    """checkpoint.pt and submission.csv from the checkpoint --select picks; returns its epoch."""
    from explorer.dann.predict import checkpoint_submission, load_for_prediction
    from explorer.dann.runfolder import shipped
    from explorer.devices import pick

    ship, device = shipped(out, args.select), pick(device_name)
    shutil.copyfile(ship.path, out / "checkpoint.pt")
    models, ckpt = load_for_prediction(ship.path, device)
    (out / "submission.csv").write_text(checkpoint_submission(models, ckpt, dataset.target, device))
    print(f"checkpoint.pt and submission.csv: epoch {ckpt['epoch']}, {ship.why}", file=sys.stderr)
    return ckpt["epoch"]
