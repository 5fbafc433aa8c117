"""The command line's arguments: one subcommand per front-end task, defaults from the configs."""

from __future__ import annotations

import argparse

from explorer.dann.config import AUGMENTS, METHODS, OPTIMIZERS, UPDATES, TrainConfig
from explorer.dann.schedules import SHAPES
from explorer.dann.speed import FAST
from explorer.dann.validators import DEFAULT, NAMES
from explorer.errors import ExplorerError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise ExplorerError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m explorer", description="Transfer Explorer from the command line.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add_verb in _VERBS:
        add_verb(sub)
    return p


def _train_parser(sub) -> None:
    t = sub.add_parser("train", help="train DANN or a source-only baseline")
    t.add_argument("--out", required=True, help="output folder")
    _train_options(t, TrainConfig())
    t.add_argument(
        "--select",
        choices=("last", *NAMES),
        default=DEFAULT,
        help="which epoch's checkpoint becomes checkpoint.pt and submission.csv "
        f"(default: best by {DEFAULT})",
    )
    t.add_argument(
        "--auto",
        choices=("reuse", "remeasure"),
        default="reuse",
        help="with canny or augment left to auto: reuse the choice measured before on this data "
        "(default), or measure again",
    )


def _sweep_parser(sub) -> None:
    sw = sub.add_parser(
        "sweep", help="train a grid of configs (x seeds) and judge them without target labels"
    )
    sw.add_argument(
        "--out", required=True, help="output folder: results.csv and runs/<run id>/ (the files train writes)"
    )
    sw.add_argument(
        "--grid",
        nargs="+",
        action="extend",
        required=True,
        metavar="NAME=V1,V2",
        help="axes, e.g. lamb=0,0.1,0.3,1 canny=auto,off,100/200 lambda-schedule=constant,dann "
        "(any training option)",
    )
    sw.add_argument(
        "--seeds", type=int, default=1, help="seeds per grid point: --seed, --seed + 1, ... (default 1)"
    )
    sw.add_argument("--workers", type=int, help="CPU: runs trained side by side (default: one per core)")
    _train_options(sw, TrainConfig())


def _embed_parser(sub) -> None:
    em = sub.add_parser("embed", help="t-SNE / PCA coordinates of a checkpoint's source and target features")
    em.add_argument("--run", help="a `train --out` folder: its checkpoint and its data")
    em.add_argument("--checkpoint")
    em.add_argument("--data", choices=["builtin"])
    em.add_argument("--source")
    em.add_argument("--target")
    em.add_argument(
        "--all-epochs", action="store_true", help="with --run: the training movie, every saved epoch aligned"
    )
    em.add_argument("--gif", help="with --all-epochs: also write the movie as an animated GIF")
    em.add_argument("--n", type=int, help="samples per domain (default 5000, or the whole data when smaller)")
    em.add_argument("--method", choices=["tsne", "pca"], default="tsne")
    em.add_argument("--perplexity", type=float, default=30.0)
    em.add_argument("--seed", type=int, default=0)
    em.add_argument("--projector", help="also write TensorBoard projector files into this folder")
    em.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    em.add_argument(
        "--out",
        required=True,
        help="CSV of 2-D coordinates to write (one row per point per frame with --all-epochs)",
    )


def _activations_parser(sub) -> None:
    ac = sub.add_parser("activations", help="draw one conv layer's feature maps for an image")
    ac.add_argument("--image", required=True)
    ac.add_argument("--model", default="resnet18", help="resnet18, resnet50 or vgg16")
    ac.add_argument(
        "--weights", default="imagenet", help="imagenet (from the torch hub cache), random, or a .pth path"
    )
    ac.add_argument("--layer", default=None, help="conv layer name (default: the first, conv1 for ResNets)")
    ac.add_argument("--start", type=int, default=0, help="first channel to draw (64 are drawn)")
    ac.add_argument("--out", required=True, help="PNG to write")


def _finetune_parser(sub) -> None:
    ft = sub.add_parser("finetune", help="fine-tune a pretrained torchvision backbone on a labelled folder")
    ft.add_argument(
        "--data", required=True, help="builtin (the embedded source domain) or an ImageFolder root / .zip"
    )
    ft.add_argument("--backbone", default="resnet18", choices=["resnet18", "resnet50", "vgg16"])
    ft.add_argument(
        "--weights", default="imagenet", help="imagenet (from the torch hub cache), random, or a .pth path"
    )
    ft.add_argument(
        "--freeze", default="head", help="head, from:<stage> (e.g. from:layer3, from:block4) or none"
    )
    ft.add_argument("--epochs", type=int, default=5)
    ft.add_argument("--lr", type=float, default=1e-3)
    ft.add_argument("--batch-size", type=int, default=64)
    ft.add_argument("--per-class", type=int, help="cap the labelled training images per class")
    ft.add_argument("--image-size", type=int, default=32)
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ft.add_argument(
        "--out", required=True, help="folder for model.pt (state_dict), metrics.jsonl, config.json"
    )


def _predict_parser(sub) -> None:
    pr = sub.add_parser("predict", help="write a submission CSV from a checkpoint")
    pr.add_argument("--checkpoint", help="a checkpoint file")
    pr.add_argument("--run", help="a `train --out` folder, instead of --checkpoint")
    pr.add_argument(
        "--select", choices=("last", *NAMES), default=DEFAULT, help="with --run: which epoch's checkpoint"
    )
    pr.add_argument("--target", required=True, help="target folder or .zip (e.g. real_or_drawing/test_data)")
    pr.add_argument("--out", required=True, help="CSV file to write")
    pr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")


def _cam_parser(sub) -> None:
    cm = sub.add_parser(
        "cam", help="where a run looks: class-activation maps of a run and its source-only twin"
    )
    cm.add_argument(
        "--run",
        required=True,
        help="a `train --out` folder (its selected checkpoint), a run in the cache, "
        "or a `finetune --out` folder",
    )
    cm.add_argument(
        "--twin",
        help="the source-only run to compare with (default: the run's twin in the cache, when trained)",
    )
    cm.add_argument(
        "--data",
        choices=["builtin"],
        help="the embedded default dataset (default: the data the run recorded)",
    )
    cm.add_argument("--source", help="labelled source: ImageFolder root or .zip (or a two-domain folder)")
    cm.add_argument("--target", help="target: folder or .zip")
    cm.add_argument("--n", type=int, default=16, help="images per domain (default 16)")
    cm.add_argument("--method", choices=["gradcam", "scorecam"], default="gradcam")
    cm.add_argument("--layer", help="the layer to take the maps at (default: the last conv block)")
    cm.add_argument("--seed", type=int, default=0, help="which images: a fixed-seed sample of each domain")
    cm.add_argument("--out", required=True, help="PNG to write: target images beside source images")


# The subcommands, in the order `--help` lists them.
_VERBS = (
    _train_parser,
    _sweep_parser,
    _embed_parser,
    _activations_parser,
    _cam_parser,
    _finetune_parser,
    _predict_parser,
)


def _train_options(p: argparse.ArgumentParser, d: TrainConfig) -> None:
    """What a run trains on and how: `train`'s options, and the fixed part of a `sweep`."""
    p.add_argument("--data", choices=["builtin"], help="the embedded default dataset")
    p.add_argument("--source", help="labelled source: ImageFolder root or .zip (or a two-domain folder)")
    p.add_argument("--target", help="target: folder or .zip")
    p.add_argument("--method", choices=METHODS, default=d.method)
    p.add_argument("--update", choices=UPDATES, default=d.update)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--time-budget", type=float, help="seconds; lambda/lr progress is measured against it")
    p.add_argument("--lambda-schedule", choices=sorted(SHAPES), default=d.lambda_schedule)
    p.add_argument("--lamb", type=float, default=d.lamb, help="lambda (the schedule's maximum)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument(
        "--width", type=float, default=d.width, help="channel multiplier; 1 = the homework's network"
    )
    p.add_argument("--mmd-weight", type=float, default=d.mmd_weight)
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--canny",
        nargs="+",
        metavar="auto | LOW HIGH",
        help="edge detection: auto (the default: chosen from unlabelled statistics) or two thresholds",
    )
    g.add_argument("--no-canny", action="store_true", help="no edge detection")
    p.add_argument(
        "--augment",
        choices=(*AUGMENTS, "auto"),
        default=d.augment,
        help=f"per-batch augmentation (default {d.augment}: measured on the data with the preprocessing)",
    )
    p.add_argument("--no-augment", action="store_true", help="the same as --augment none")
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--self-train-epochs", type=int, default=d.self_train_epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=d.device)
    p.add_argument(
        "--fast",
        choices=FAST,
        default=d.fast,
        help="auto (the default): the step's fastest layout and precision on this machine, chosen by "
        "timing; off: the plain eager fp32 step, for teaching and debugging",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="train on this Ray cluster (e.g. 10.0.0.5:6379, auto), or `local` for a private one-machine "
        "cluster (default: $EXPLORER_RAY_ADDRESS; unset: in this process). "
        "Needs: pip install -r requirements-cluster.txt",
    )
