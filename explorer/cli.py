"""``python -m explorer``: the same engine as the app, for scripts, benchmarks and slides.

    python -m explorer train (--data builtin | --source SRC --target TGT) --out DIR [options]
    python -m explorer embed (--run DIR | --checkpoint C (--data builtin | --source SRC --target TGT)) --out coords.csv
    python -m explorer activations --image IMG [--model resnet18] [--weights imagenet|random|PATH] [--layer conv1] --out grid.png
    python -m explorer finetune --data DIR --backbone resnet18 [--weights imagenet|random|PATH] --freeze {head,from:layerN,none} --out DIR
    python -m explorer predict --checkpoint C --target TGT --out submission.csv

`train` trains into DIR: config.json, metrics.jsonl (one JSON object per epoch), last.pt and
epoch_NNNN.pt (the same files as a run in the app's cache; running it again with the same options
resumes or finds the run finished), then checkpoint.pt (the final model) and submission.csv
(``id,label``). It shows a progress bar on stderr and prints one JSON object as its last line on
stdout. Bad arguments or data: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
from pathlib import Path

from explorer.dann.config import METHODS, OPTIMIZERS, UPDATES, TrainConfig
from explorer.dann.schedules import SHAPES
from explorer.errors import ExplorerError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise ExplorerError(f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m explorer", description="Transfer Explorer from the command line.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    d = TrainConfig()

    t = sub.add_parser("train", help="train DANN or a source-only baseline")
    t.add_argument("--data", choices=["builtin"], help="the embedded default dataset")
    t.add_argument("--source", help="labelled source: ImageFolder root or .zip (or a two-domain folder)")
    t.add_argument("--target", help="target: folder or .zip")
    t.add_argument("--out", required=True, help="output folder")
    t.add_argument("--method", choices=METHODS, default=d.method)
    t.add_argument("--update", choices=UPDATES, default=d.update)
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--time-budget", type=float, help="seconds; lambda/lr progress is measured against it")
    t.add_argument("--lambda-schedule", choices=sorted(SHAPES), default=d.lambda_schedule)
    t.add_argument("--lamb", type=float, default=d.lamb, help="lambda (the schedule's maximum)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--width", type=float, default=d.width, help="channel multiplier; 1 = the homework's network")
    t.add_argument("--mmd-weight", type=float, default=d.mmd_weight)
    g = t.add_mutually_exclusive_group()
    g.add_argument("--canny", nargs=2, type=int, metavar=("LOW", "HIGH"), default=d.canny)
    g.add_argument("--no-canny", action="store_true")
    t.add_argument("--no-augment", action="store_true", help="no random flip/rotation")
    t.add_argument("--image-size", type=int, default=d.image_size)
    t.add_argument("--self-train-epochs", type=int, default=d.self_train_epochs)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default=d.device)

    em = sub.add_parser("embed", help="t-SNE / PCA coordinates of a checkpoint's source and target features")
    em.add_argument("--run", help="a `train --out` folder: its checkpoint and its data")
    em.add_argument("--checkpoint")
    em.add_argument("--data", choices=["builtin"])
    em.add_argument("--source")
    em.add_argument("--target")
    em.add_argument("--n", type=int, default=5000, help="samples per domain (default 5000)")
    em.add_argument("--method", choices=["tsne", "pca"], default="tsne")
    em.add_argument("--perplexity", type=float, default=30.0)
    em.add_argument("--seed", type=int, default=0)
    em.add_argument("--projector", help="also write TensorBoard projector files into this folder")
    em.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    em.add_argument("--out", required=True, help="CSV of 2-D coordinates to write")

    ac = sub.add_parser("activations", help="draw one conv layer's feature maps for an image")
    ac.add_argument("--image", required=True)
    ac.add_argument("--model", default="resnet18", help="resnet18, resnet50 or vgg16")
    ac.add_argument("--weights", default="imagenet", help="imagenet (from the torch hub cache), random, or a .pth path")
    ac.add_argument("--layer", default=None, help="conv layer name (default: the first, conv1 for ResNets)")
    ac.add_argument("--start", type=int, default=0, help="first channel to draw (64 are drawn)")
    ac.add_argument("--out", required=True, help="PNG to write")

    ft = sub.add_parser("finetune", help="fine-tune a pretrained torchvision backbone on a labelled folder")
    ft.add_argument("--data", required=True, help="builtin (the embedded source domain) or an ImageFolder root / .zip")
    ft.add_argument("--backbone", default="resnet18", choices=["resnet18", "resnet50", "vgg16"])
    ft.add_argument("--weights", default="imagenet", help="imagenet (from the torch hub cache), random, or a .pth path")
    ft.add_argument("--freeze", default="head", help="head, from:<stage> (e.g. from:layer3, from:block4) or none")
    ft.add_argument("--epochs", type=int, default=5)
    ft.add_argument("--lr", type=float, default=1e-3)
    ft.add_argument("--batch-size", type=int, default=64)
    ft.add_argument("--per-class", type=int, help="cap the labelled training images per class")
    ft.add_argument("--image-size", type=int, default=32)
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ft.add_argument("--out", required=True, help="folder for model.pt (state_dict), metrics.jsonl, config.json")

    pr = sub.add_parser("predict", help="write a submission CSV from a checkpoint")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("--target", required=True, help="target folder or .zip (e.g. real_or_drawing/test_data)")
    pr.add_argument("--out", required=True, help="CSV file to write")
    pr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    return p


def _dataset(args):
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


def cmd_train(args) -> int:
    from tqdm import tqdm

    from explorer.dann.inputs import target_inputs
    from explorer.dann.predict import submission_csv
    from explorer.dann.trainer import Trainer

    canny = None if args.no_canny else (tuple(args.canny) if args.canny else None)
    config = TrainConfig(
        method=args.method,
        update=args.update,
        lambda_schedule=args.lambda_schedule,
        lamb=args.lamb,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        time_budget=args.time_budget,
        width=args.width,
        mmd_weight=args.mmd_weight,
        canny=canny,
        image_size=args.image_size,
        augment=not args.no_augment,
        self_train_epochs=args.self_train_epochs,
        seed=args.seed,
        device=args.device,
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExplorerError(f"--out {out} is a file; give a folder to write the run into.")
    dataset = _dataset(args)
    for note in dataset.notes:
        print(f"note: {note}", file=sys.stderr)
    where = {
        "data": args.data,
        "source": args.source and str(Path(args.source).resolve()),
        "target": args.target and str(Path(args.target).resolve()),
    }
    trainer = Trainer(config, dataset, out, info=where)
    events = trainer.events(threading.Event())
    start = next(events)  # a folder holding another run is refused here, before any progress is drawn
    resumed = f", resuming at epoch {start['resumed_from']}" if start["resumed_from"] else ""
    print(f"run {start['run_id']} on {start['device']}{resumed}", file=sys.stderr)
    final = None
    with tqdm(total=trainer.total_epochs, initial=start["resumed_from"], unit="epoch", file=sys.stderr) as bar:
        for event in events:
            if event["kind"] != "epoch":
                final = event
                continue
            tgt = "-" if event["target_acc"] is None else f"{event['target_acc']:.3f}"
            bar.set_description_str(f"epoch {event['epoch']}/{trainer.total_epochs} {event['stage']}")
            bar.set_postfix_str(
                f"lambda {event['lambda']:.2f} loss {event['class_loss']:.3f} src {event['source_acc']:.3f} "
                f"tgt {tgt} {event['img_per_s']:,.0f} img/s"
            )
            bar.update(1)
    if final["kind"] == "error":
        raise ExplorerError(final["message"])
    shutil.copyfile(out / "last.pt", out / "checkpoint.pt")
    labels = trainer.predict(target_inputs(dataset.target.images, trainer.xs.shape[1])).argmax(1).cpu()
    (out / "submission.csv").write_text(submission_csv(dataset.target.ids, labels, dataset.classes))
    summary = {k: v for k, v in final.items() if k != "kind"} | {"out": str(out)}
    print(json.dumps(summary))
    return 0


def cmd_embed(args) -> int:
    from explorer.analysis import alignment, projector
    from explorer.analysis.embedding import embedding
    from explorer.store import checkpoints

    if args.run:
        run = Path(args.run)
        try:
            info = json.loads((run / "config.json").read_text())
        except (OSError, ValueError):
            raise ExplorerError(f"{run} is not a `train --out` folder (no readable config.json).") from None
        args.checkpoint = args.checkpoint or str(run / "checkpoint.pt")
        if not (args.data or args.source):
            args.data, args.source, args.target = info.get("data"), info.get("source"), info.get("target")
    if not args.checkpoint:
        raise ExplorerError("Give --checkpoint (or --run with a train output folder).")
    args.image_size = checkpoints.load(args.checkpoint)["config"]["image_size"]
    dataset = _dataset(args)
    emb = embedding(args.checkpoint, dataset, args.n, args.method, args.perplexity, args.seed, args.device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(projector.coords_csv(emb, dataset))
    if args.projector:
        import io
        import zipfile

        Path(args.projector).mkdir(parents=True, exist_ok=True)
        zipfile.ZipFile(io.BytesIO(projector.projector_zip(emb, dataset))).extractall(args.projector)
    f = emb.features
    tgt = f.domain == 1
    print(
        json.dumps(
            {
                "out": str(out),
                "method": args.method,
                "epoch": f.epoch,
                "seconds": round(emb.seconds, 3),
                "cached": emb.cached,
                "n_source": int((~tgt).sum()),
                "n_target": int(tgt.sum()),
                "a_distance": alignment.proxy_a_distance(f.features, f.domain, args.seed),
                "knn_class_agreement": alignment.knn_class_agreement(f.features, f.label),
                "target_acc": float((f.pred[tgt] == f.label[tgt]).mean()) if (f.label[tgt] >= 0).all() else None,
            }
        )
    )
    return 0


def cmd_activations(args) -> int:
    import time

    from PIL import Image

    from explorer.analysis.activations import INPUT_SIZE, capture, conv_layers, imagenet_input, map_grid
    from explorer.data.images import read_image
    from explorer.transfer.backbones import load_backbone

    loaded = load_backbone(args.model, args.weights if args.weights in ("imagenet", "random") else args.weights)
    layers = conv_layers(loaded.model)
    layer = args.layer or layers[0]
    if layer not in layers:
        raise ExplorerError(
            f"{args.model} has no conv layer {layer!r}; it has {', '.join(layers[:6])}, ... ({len(layers)} in all)."
        )
    try:
        pixels, _ = read_image(args.image, INPUT_SIZE)
    except FileNotFoundError:
        raise ExplorerError(f"Image not found: {args.image}") from None
    t0 = time.perf_counter()
    maps = capture(loaded.model, imagenet_input(pixels)).maps[layer]
    if not 0 <= args.start < maps.shape[0]:
        raise ExplorerError(f"--start must be 0 to {maps.shape[0] - 1}: {layer} has {maps.shape[0]} maps.")
    grid = map_grid(maps, args.start)
    seconds = time.perf_counter() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(args.out)
    print(
        json.dumps(
            {
                "out": args.out,
                "model": args.model,
                "layer": layer,
                "channels": int(maps.shape[0]),
                "drawn": int(min(64, maps.shape[0] - args.start)),
                "map_size": list(maps.shape[1:]),
                "seconds": round(seconds, 4),
                "weights": loaded.weights,
            }
        )
    )
    return 0


def cmd_finetune(args) -> int:
    import torch

    from explorer.data.builtin import load_builtin
    from explorer.data.domains import load_domain
    from explorer.transfer.finetune import FinetuneConfig, FineTuner

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExplorerError(f"--out {out} is a file; give a folder.")
    weights = args.weights if args.weights in ("imagenet", "random") else str(Path(args.weights))
    config = FinetuneConfig(
        backbone=args.backbone,
        weights=weights,
        freeze=args.freeze,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        per_class=args.per_class,
        seed=args.seed,
        device=args.device,
    )
    domain = (
        load_builtin(args.image_size).source if args.data == "builtin" else load_domain(args.data, size=args.image_size)
    )
    tuner = FineTuner(config, domain)
    final, lines = None, []
    for event in tuner.events():
        if event["kind"] == "epoch":
            lines.append(json.dumps(event))
            print(
                f"epoch {event['epoch']}/{config.epochs} loss {event['train_loss']:.3f} val {event['val_acc']:.3f} "
                f"{event['seconds']:.2f}s",
                file=sys.stderr,
            )
        elif event["kind"] != "start":
            final = event
    out.mkdir(parents=True, exist_ok=True)
    torch.save(tuner.model.state_dict(), out / "model.pt")
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    summary = {k: v for k, v in final.items() if k not in ("kind", "config")}
    (out / "config.json").write_text(json.dumps(final["config"] | {"classes": list(domain.classes)}, indent=2))
    print(json.dumps(summary | {"out": str(out)}))
    return 0


def cmd_predict(args) -> int:
    from explorer.dann.predict import checkpoint_submission, load_for_prediction
    from explorer.data.domains import load_domain
    from explorer.devices import pick

    device = pick(args.device)
    models, ckpt = load_for_prediction(args.checkpoint, device)
    size = ckpt["config"]["image_size"]
    target = load_domain(args.target, size=size)
    for note in target.notes:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(checkpoint_submission(models, ckpt, target, device))
    print(json.dumps({"out": args.out, "images": len(target), "skipped": len(target.skipped)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        commands = {
            "train": cmd_train,
            "embed": cmd_embed,
            "activations": cmd_activations,
            "finetune": cmd_finetune,
            "predict": cmd_predict,
        }
        return commands[args.command](args)
    except ExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output path that cannot be written, a disk that is full
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the last finished epoch's checkpoint is kept.", file=sys.stderr)
        return 130
