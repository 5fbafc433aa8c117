"""`embed`: t-SNE / PCA coordinates of a checkpoint's source and target features (a CSV, optionally
TensorBoard projector files), or with --all-epochs the training movie of a run (a CSV, optionally a
GIF); then one JSON object as the last line on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from explorer.cli.common import dataset_of
from explorer.errors import ExplorerError


def cmd_embed(args) -> int:
    from explorer.analysis.embedding import embedding

    info = _run_info(args)
    if args.all_epochs:
        if not args.run or args.checkpoint:
            raise ExplorerError("--all-epochs takes --run (a `train --out` folder), not --checkpoint.")
        args.image_size = info["image_size"]
        return _movie(args, dataset_of(args))
    if args.gif:
        raise ExplorerError("--gif goes with --all-epochs (a GIF of the training movie).")
    _pick_checkpoint(args)
    dataset = dataset_of(args)
    args.n = args.n or min(5000, max(len(dataset.source), len(dataset.target)))
    emb = embedding(args.checkpoint, dataset, args.n, args.method, args.perplexity, args.seed, args.device)
    out = _write_embedding(args, emb, dataset)
    print(json.dumps(_summary(args, out, emb)))
    return 0


def _run_info(args) -> dict | None:
    """With --run: the run's config.json, and its data when no --data/--source is given."""
    if not args.run:
        return None
    run = Path(args.run)
    try:
        info = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        raise ExplorerError(f"{run} is not a `train --out` folder (no readable config.json).") from None
    if not (args.data or args.source):
        args.data, args.source, args.target = info.get("data"), info.get("source"), info.get("target")
    return info


def _pick_checkpoint(args) -> None:
    """The checkpoint to embed (--checkpoint, or the run's checkpoint.pt) and its image size."""
    from explorer.store import checkpoints

    if args.run:
        args.checkpoint = args.checkpoint or str(Path(args.run) / "checkpoint.pt")
    if not args.checkpoint:
        raise ExplorerError("Give --checkpoint (or --run with a train output folder).")
    args.image_size = checkpoints.load(args.checkpoint)["config"]["image_size"]


def _write_embedding(args, emb, dataset) -> Path:
    """The coordinates CSV at --out, and the projector files when --projector is given."""
    from explorer.analysis import projector

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(projector.coords_csv(emb, dataset))
    if args.projector:
        import io
        import zipfile

        Path(args.projector).mkdir(parents=True, exist_ok=True)
        zipfile.ZipFile(io.BytesIO(projector.projector_zip(emb, dataset))).extractall(args.projector)
    return out


def _summary(args, out: Path, emb) -> dict:
    """The JSON line: where it went, how long it took, and how well the domains align."""
    from explorer.analysis import alignment

    f = emb.features
    tgt = f.domain == 1
    return {
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


def _movie(args, dataset) -> int:
    """`embed --all-epochs`: every saved epoch of the run, aligned; CSV (and GIF), then the JSON line."""
    from tqdm import tqdm

    from explorer.analysis import movie, movie_export

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
    out.write_text(movie_export.csv(mv))
    if args.gif:
        Path(args.gif).parent.mkdir(parents=True, exist_ok=True)
        Path(args.gif).write_bytes(movie_export.gif(mv))
    f = mv.frames
    print(
        json.dumps(
            {
                "out": str(out),
                "gif": args.gif,
                "frames": len(f),
                "points": len(mv.domain),
                "epochs": [x.epoch for x in f],
                "seconds": round(mv.seconds, 3),
                "mixing": [round(x.mixing, 4) for x in f],
                "a_distance": [round(x.a_distance, 4) for x in f],
                "target_acc": [x.target_acc for x in f],
                "skipped": len(mv.skipped),
            }
        )
    )
    return 0
