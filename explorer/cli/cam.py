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


def cmd_cam(args) -> int:
    from PIL import Image

    from explorer.analysis import cam as C
    from explorer.analysis import cam_compare as compare

    if args.n < 1:
        raise ExplorerError(f"--n must be at least 1 (got {args.n}).")
    run = C.load_classifier(args.run)
    _check_layer(args.layer, run)
    twin = _twin(args, run)
    models = {"dann" if run.config.get("method") == "dann" else "run": run} | ({"twin": twin} if twin else {})
    dataset = _data(args, run)
    t0 = time.perf_counter()
    named = {_column(key, m): m for key, m in models.items()}
    found = compare.looks(named, dataset, args.n, args.method, args.layer, args.seed)
    picture = compare.picture(
        found, dataset, args.seed, title=lambda domain, n: f"{domain}: {n} images, {args.method}"
    )
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(out)
    print(json.dumps(_summary(args, models, found, seconds)))
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
    from explorer.execution.keep import source_only_twin

    try:
        _, folder = source_only_twin(run.config)
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
            "note: these images are not the data the run was trained on; "
            "its maps are shown for them all the same.",
            file=sys.stderr,
        )
    if dataset.classes != run.classes:
        raise ExplorerError(
            f"The source's classes ({', '.join(dataset.classes)}) "
            f"are not the run's ({', '.join(run.classes)})."
        )
    return dataset


def _column(key: str, model) -> str:
    """A model's name in the picture: its column's title."""
    return {"dann": "DANN", "twin": "source-only twin"}.get(key, model.name)


def _summary(args, models: dict, found: dict, seconds: float) -> dict:
    """The JSON line: per model, each number per domain (None where nothing could be measured)."""
    from explorer.analysis.cam_metrics import summaries

    first = _column(*next(iter(models.items())))
    result = {
        "out": str(args.out),
        "images": sum(len(lk.cams.predicted) for (name, _), lk in found.items() if name == first),
        "seconds": round(seconds, 3),
        "method": args.method,
        "layer": next(iter(found.values())).cams.layer,
    }
    numbers = summaries(list(found.values()))
    for key, model in models.items():
        result[key] = {"name": model.name, "checkpoint": model.checkpoint} | {
            name: {d: None if v is None else round(v, 4) for d, v in per_domain.items()}
            for name, per_domain in numbers[_column(key, model)].items()
        }
    result.setdefault("twin", None)
    return result
