"""What each subcommand does: it reads the parsed arguments, drives the engine, writes files, and
prints one JSON object as its last line on stdout."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from dataclasses import fields
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.dann.grid import describe
from explorer.errors import ExplorerError


def config_from(cls, args, **overrides):
    """A config dataclass from the arguments named like its fields, then `overrides`."""
    given = {f.name: getattr(args, f.name) for f in fields(cls) if f.name in vars(args)}
    return cls(**(given | overrides))


def _dataset(args):
    from explorer.data.builtin import load_builtin
    from explorer.data.domains import open_dataset

    if args.data == "builtin":
        if args.source or args.target:
            raise ExplorerError("Give either --data builtin or --source/--target, not both.")
        return load_builtin(args.image_size)
    if not args.source:
        raise ExplorerError("Give --data builtin, or --source (and --target unless the source folder holds both domains).")
    return open_dataset(args.source, args.target, size=args.image_size)


def _canny(args):
    if args.no_canny:
        return None
    if not args.canny or args.canny == ["auto"]:
        return "auto"
    try:
        low, high = (int(v) for v in args.canny)
    except ValueError:
        raise ExplorerError(f"--canny takes auto or two whole numbers LOW HIGH (got {' '.join(args.canny)}).") from None
    return (low, high)


def _training_setup(args):
    """`train`'s and `sweep`'s shared part: the config from the options, the output folder, the
    data (its notes on stderr) and where it came from (recorded in config.json)."""
    augment = "none" if args.no_augment else args.augment
    config = config_from(TrainConfig, args, canny=_canny(args), augment=augment)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ExplorerError(f"--out {out} is a file; give a folder to write into.")
    dataset = _dataset(args)
    for note in dataset.notes:
        print(f"note: {note}", file=sys.stderr)
    where = {
        "data": args.data,
        "source": args.source and str(Path(args.source).resolve()),
        "target": args.target and str(Path(args.target).resolve()),
    }
    return config, out, dataset, where


def _cluster(args):
    """The Ray cluster that `--ray` or $EXPLORER_RAY_ADDRESS names, connected; None: train here."""
    from explorer.dann import cluster

    address = cluster.configured(args.ray)
    if address is None:
        return None
    found = cluster.connect(address)
    print(found.describe(), file=sys.stderr)
    return found


def cmd_train(args) -> int:
    from tqdm import tqdm

    from explorer.dann.predict import checkpoint_submission, load_for_prediction
    from explorer.dann.runfolder import RunFolder
    from explorer.dann.trainer import Trainer
    from explorer.data.preprocess import Preprocess, explain
    from explorer.devices import pick

    config, out, dataset, where = _training_setup(args)
    cluster = _cluster(args)
    if cluster:
        events = cluster.run(config, dataset, out, info=where)
    else:
        events = Trainer(config, dataset, out, info=where).events(threading.Event())
    start = next(events)  # a folder holding another run is refused here, before any progress is drawn
    while start["kind"] in ("retry", "waiting"):  # on a cluster: a worker lost, or no device free yet
        print(start["message"], file=sys.stderr)
        start = next(events)
    if start["kind"] != "start":
        raise ExplorerError(start["message"])
    resumed = f", resuming at epoch {start['resumed_from']}" if start["resumed_from"] else ""
    on = f" ({start['where']})" if start.get("where") else ""
    print(f"run {start['run_id']} on {start['device']}{on}{resumed}", file=sys.stderr)
    preprocess = Preprocess.from_dict(start["preprocess"])
    print(explain(preprocess) if config.canny == "auto" else f"preprocessing: {preprocess.label}", file=sys.stderr)
    final, total = None, start["epochs"] + start["self_train_epochs"]
    with tqdm(total=total, initial=start["resumed_from"], unit="epoch", file=sys.stderr) as bar:
        for event in events:
            if event["kind"] == "retry":
                tqdm.write(event["message"], file=sys.stderr)
                continue
            if event["kind"] != "epoch":
                final = event
                continue
            tgt = "-" if event["target_acc"] is None else f"{event['target_acc']:.3f}"
            bar.set_description_str(f"epoch {event['epoch']}/{total} {event['stage']}")
            bar.set_postfix_str(
                f"lambda {event['lambda']:.2f} loss {event['class_loss']:.3f} src {event['source_acc']:.3f} "
                f"tgt {tgt} {event['img_per_s']:,.0f} img/s"
            )
            bar.update(1)
    if final["kind"] == "error":
        raise ExplorerError(final["message"])
    chosen, device = RunFolder(out).checkpoint(args.select), pick("auto" if cluster else config.device)
    shutil.copyfile(chosen, out / "checkpoint.pt")
    models, ckpt = load_for_prediction(chosen, device)
    (out / "submission.csv").write_text(checkpoint_submission(models, ckpt, dataset.target, device))
    why = "the last epoch" if chosen.name == "last.pt" else f"the best epoch by {args.select}"
    if chosen.name == "last.pt" and args.select != "last":
        why += f" (no {args.select} scores: no held-out source)"
    print(f"checkpoint.pt and submission.csv: epoch {ckpt['epoch']}, {why}", file=sys.stderr)
    summary = {k: v for k, v in final.items() if k != "kind"} | {"out": str(out), "checkpoint_epoch": ckpt["epoch"]}
    print(json.dumps(summary))
    return 0


def cmd_sweep(args) -> int:
    import signal

    from tqdm import tqdm

    from explorer.dann.grid import Grid
    from explorer.dann.sweep import Sweep

    grid = Grid.parse(args.grid, args.seeds, args.seed)  # a bad axis fails here, before the data is read
    if args.workers is not None and args.workers < 1:
        raise ExplorerError(f"--workers must be at least 1 (got {args.workers}).")
    base, out, dataset, where = _training_setup(args)
    sweep = Sweep(grid, base, dataset, out / "runs", workers=args.workers, info=where, cluster=_cluster(args))
    stop = threading.Event()

    def first_interrupt(signum, frame):  # the first Ctrl-C stops the sweep within one step; a second one ends it at once
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\nstopping: the runs in progress keep their last finished epoch; run the same command again to resume.", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, first_interrupt)
    out.mkdir(parents=True, exist_ok=True)
    results, final, failed, said = out / "results.csv", None, [], set()
    try:
        with tqdm(total=sweep.total_epochs, unit="epoch", file=sys.stderr) as bar:
            for event in sweep.events(stop):
                if event["kind"] == "sweep":
                    print(f"sweep: {event['runs']} runs ({event['cached']} already trained) · {event['plan']}", file=sys.stderr)
                    continue
                if event["kind"] != "run":
                    final = event
                    continue
                inner, run = event["event"], sweep.runs[event["index"]]
                if inner["kind"] == "epoch":
                    bar.update(1)
                    bar.set_description_str(f"run {run.index + 1}/{len(sweep.runs)}")
                elif inner["kind"] == "cached":
                    bar.update(run.config.epochs + run.config.self_train_epochs)
                elif inner["kind"] == "retry" or (inner["kind"] == "waiting" and inner["message"] not in said):
                    said.add(inner["message"])  # a busy cluster's "waiting" once, not once per run
                    tqdm.write(f"run {run.index + 1} ({describe(run.point)}): {inner['message']}", file=sys.stderr)
                elif inner["kind"] in ("done", "error"):
                    if inner["kind"] == "error":
                        failed.append(run.index)
                        tqdm.write(f"run {run.index + 1} ({describe(run.point)}): {inner['message']}", file=sys.stderr)
                    results.write_text(sweep.results_csv())
    finally:
        signal.signal(signal.SIGINT, previous)
    results.write_text(sweep.results_csv())
    best = final.get("best")
    if best:
        acc = "" if best["target_acc"] is None else f", target acc {best['target_acc']:.3f}"
        print(f"best by {best['by']}: {best['point']} ({best['by']} {best['score']:.3f}{acc})", file=sys.stderr)
    keys = ("runs", "cached", "seconds", "best", "oracle")
    print(json.dumps({k: final[k] for k in keys} | {"failed": len(failed), "stopped": final["kind"] == "stopped",
                                                    "results": str(results)}))  # fmt: skip
    return 130 if final["kind"] == "stopped" else 0


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
        if not (args.data or args.source):
            args.data, args.source, args.target = info.get("data"), info.get("source"), info.get("target")
    if args.all_epochs:
        if not args.run or args.checkpoint:
            raise ExplorerError("--all-epochs takes --run (a `train --out` folder), not --checkpoint.")
        args.image_size = info["image_size"]
        return _movie(args, _dataset(args))
    if args.gif:
        raise ExplorerError("--gif goes with --all-epochs (a GIF of the training movie).")
    if args.run:
        args.checkpoint = args.checkpoint or str(run / "checkpoint.pt")
    if not args.checkpoint:
        raise ExplorerError("Give --checkpoint (or --run with a train output folder).")
    args.image_size = checkpoints.load(args.checkpoint)["config"]["image_size"]
    dataset = _dataset(args)
    args.n = args.n or min(5000, max(len(dataset.source), len(dataset.target)))
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
                "target_acc": f.target_acc,
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

    if args.weights == "imagenet":
        _download_imagenet(args.model)
    loaded = load_backbone(args.model, args.weights)
    layers = conv_layers(loaded.model)
    layer = args.layer or layers[0]
    if layer not in layers:
        raise ExplorerError(f"{args.model} has no conv layer {layer!r}; it has {', '.join(layers[:6])}, ... ({len(layers)} in all).")
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
    config = config_from(FinetuneConfig, args, weights=weights)
    if weights == "imagenet":
        _download_imagenet(config.backbone)
    domain = load_builtin(args.image_size).source if args.data == "builtin" else load_domain(args.data, size=args.image_size)
    tuner = FineTuner(config, domain)
    final, lines = None, []
    for event in tuner.events():
        if event["kind"] == "epoch":
            lines.append(json.dumps(event))
            print(
                f"epoch {event['epoch']}/{config.epochs} loss {event['train_loss']:.3f} val {event['val_acc']:.3f} {event['seconds']:.2f}s",
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
    from explorer.dann.runfolder import RunFolder
    from explorer.data.domains import load_domain
    from explorer.devices import pick

    if bool(args.checkpoint) == bool(args.run):
        raise ExplorerError("Give --checkpoint FILE or --run DIR (a `train --out` folder), one of the two.")
    if args.run and not Path(args.run, "last.pt").is_file():
        raise ExplorerError(f"{args.run} is not a `train --out` folder (no last.pt).")
    device = pick(args.device)
    path = args.checkpoint or RunFolder(args.run).checkpoint(args.select)
    models, ckpt = load_for_prediction(path, device)
    size = ckpt["config"]["image_size"]
    target = load_domain(args.target, size=size)
    for note in target.notes:
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(checkpoint_submission(models, ckpt, target, device))
    print(json.dumps({"out": args.out, "images": len(target), "skipped": len(target.skipped), "epoch": ckpt["epoch"]}))
    return 0


def _movie(args, dataset) -> int:
    """`embed --all-epochs`: every saved epoch of the run, aligned; CSV (and GIF), then the JSON line."""
    from tqdm import tqdm

    from explorer.analysis import movie

    n = args.n or min(5000, max(len(dataset.source), len(dataset.target)))
    with tqdm(desc="frames", unit="frame", file=sys.stderr) as bar:

        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        mv = movie.movie(args.run, dataset, n, args.method, args.perplexity, args.seed, args.device, progress)
    for line in mv.skipped + ([mv.note] if mv.note else []):
        print(f"note: {line}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(movie.csv(mv))
    if args.gif:
        Path(args.gif).parent.mkdir(parents=True, exist_ok=True)
        Path(args.gif).write_bytes(movie.gif(mv))
    f = mv.frames
    print(json.dumps({"out": str(out), "gif": args.gif, "frames": len(f), "points": len(mv.domain), "epochs": [x.epoch for x in f],
                      "seconds": round(mv.seconds, 3), "mixing": [round(x.mixing, 4) for x in f],
                      "a_distance": [round(x.a_distance, 4) for x in f], "target_acc": [x.target_acc for x in f],
                      "skipped": len(mv.skipped)}))  # fmt: skip
    return 0


def _download_imagenet(name: str) -> None:
    """The ImageNet weights into the torch hub cache, if they are not there, with a tqdm bar on stderr."""
    from tqdm import tqdm

    from explorer.transfer.backbones import ensure_imagenet, hub_file

    if hub_file(name).is_file():
        return
    with tqdm(desc=hub_file(name).name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr) as bar:

        def progress(got, total):
            bar.total = total
            bar.update(got - bar.n)

        ensure_imagenet(name, progress)
