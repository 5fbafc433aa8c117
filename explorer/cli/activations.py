"""`activations`: one conv layer's feature maps for an image, drawn as a PNG grid; then one JSON
object as the last line on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from explorer.cli.common import download_imagenet
from explorer.errors import ExplorerError


def cmd_activations(args) -> int:
    import time

    from PIL import Image

    from explorer.analysis.activations import INPUT_SIZE, capture, conv_layers, imagenet_input, map_grid
    from explorer.data.images import read_image
    from explorer.transfer.backbones import load_backbone

    if args.weights == "imagenet":
        download_imagenet(args.model)
    loaded = load_backbone(args.model, args.weights)
    layers = conv_layers(loaded.model)
    layer = args.layer or layers[0]
    if layer not in layers:
        raise ExplorerError(
            f"{args.model} has no conv layer {layer!r}; "
            f"it has {', '.join(layers[:6])}, ... ({len(layers)} in all)."
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
