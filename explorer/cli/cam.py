"""`cam`: where a run looks. Class-activation maps of N target and N source images for a run and its
source-only twin, drawn side by side into a PNG; then one JSON object as the last line on stdout
with, per model, the attention on strokes and the faithfulness averaged per domain."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from explorer.cli.common import dataset_of
from explorer.errors import ExplorerError

DOMAINS = ("target", "source")


def cmd_cam(args) -> int:
    from PIL import Image

    from explorer.analysis import cam as C

    if args.n < 1:
        raise ExplorerError(f"--n must be at least 1 (got {args.n}).")
    run = C.load_classifier(args.run)
    _check_layer(args.layer, run)
    twin = _twin(args, run)
    models = {"dann" if run.config.get("method") == "dann" else "run": run} | ({"twin": twin} if twin else {})
    dataset = _data(args, run)
    t0 = time.perf_counter()
    looks, picture = _looks_and_picture(args, models, dataset)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(out)
    print(json.dumps(_summary(args, models, looks, seconds)))
    return 0


def _twin(args, run):
    """The twin: --twin, else the run's source-only twin in the cache when it has been trained."""
    from explorer.analysis import cam as C

    if args.twin:
        twin = C.load_classifier(args.twin)
        C.check_twin(run, twin)
        if not twin.source_only:
            print(
                f"note: the twin ({twin.name}) is not a source-only run; its maps are compared all the same.",
                file=sys.stderr,
            )
        return twin
    if run.config.get("method") != "dann":
        return None
    from explorer.execution.keep import twin as twin_of

    try:
        _, folder = twin_of(run.config)
    except (ExplorerError, KeyError, TypeError):  # a config from before runs recorded their device or data
        folder = None
    if folder is None or not (folder / "metrics.jsonl").is_file():
        print(
            "note: this run's source-only twin is not in the cache; showing the run alone "
            "(train it with the same options and --method source-only, then give --twin DIR).",
            file=sys.stderr,
        )
        return None
    twin = C.load_classifier(folder)
    C.check_twin(run, twin)
    print(f"note: the source-only twin from the cache: {folder}", file=sys.stderr)
    return twin


def _check_layer(layer: str | None, run) -> None:
    """Refuse a layer name before any data is read: the message lists the layers there are."""
    from explorer.analysis import cam as C

    if layer is not None:
        C.check_layer(run.model, run.input_shape, layer)


def _data(args, run):
    """The images: --data/--source/--target, else the data the run recorded; at the run's image size."""
    if not (args.data or args.source):
        args.data, args.source, args.target = (
            run.config.get("data"),
            run.config.get("source"),
            run.config.get("target"),
        )
        if not (args.data or args.source):
            raise ExplorerError(
                "The run does not record where its data came from: give --data builtin or --source/--target."
            )
    args.image_size = run.image_size
    dataset = dataset_of(args)
    for note in dataset.notes:
        print(f"note: {note}", file=sys.stderr)
    for domain in (dataset.source, dataset.target):
        for name, reason in domain.skipped[:5]:
            print(f"note: skipped {name}: {reason}", file=sys.stderr)
    if run.config.get("data_fingerprint") and dataset.fingerprint != run.config["data_fingerprint"]:
        print(
            "note: these images are not the data the run was trained on; its maps are shown for them all the same.",
            file=sys.stderr,
        )
    if dataset.classes != run.classes:
        raise ExplorerError(
            f"The source's classes ({', '.join(dataset.classes)}) are not the run's ({', '.join(run.classes)})."
        )
    return dataset


def _looks_and_picture(args, models: dict, dataset):
    """Every model's maps of the same sampled images per domain, and the picture of them all."""
    from explorer.analysis.cam_metrics import look, sample
    from explorer.analysis.cam_picture import cam_grid, side_by_side

    looks, grids = [], []
    for domain in DOMAINS:
        images, labels = sample(getattr(dataset, domain), args.n, args.seed)
        row = [
            look(m, images, domain, labels, args.method, args.layer, _column(key, m))
            for key, m in models.items()
        ]
        looks += [(key, lk) for key, lk in zip(models, row)]
        grids.append(
            cam_grid(images, row, dataset.classes, title=f"{domain}: {len(images)} images, {args.method}")
        )
    return looks, side_by_side(grids)


def _column(key: str, model) -> str:
    return {"dann": "DANN", "twin": "source-only twin"}.get(key, model.name)


def _summary(args, models: dict, looks: list, seconds: float) -> dict:
    """The JSON line: per model, each number per domain (None where nothing could be measured)."""
    result = {
        "out": str(args.out),
        "images": sum(len(lk.cams.predicted) for key, lk in looks if key == next(iter(models))),
        "seconds": round(seconds, 3),
        "method": args.method,
        "layer": looks[0][1].cams.layer,
    }
    for key, model in models.items():
        numbers: dict = {"name": model.name, "checkpoint": model.checkpoint}
        for _, lk in (pair for pair in looks if pair[0] == key):
            for name, value in lk.summary().items():
                numbers.setdefault(name, {})[lk.domain] = None if value is None else round(value, 4)
        result[key] = numbers
    result.setdefault("twin", None)
    return result
