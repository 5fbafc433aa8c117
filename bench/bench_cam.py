"""Class-activation maps timing: 16 Grad-CAM and 16 Score-CAM maps of the default model on CPU.

    python -m bench.bench_cam [--run DIR] [--repeats 21] [--n 16]

The model: the checkpoint a trained run ships (--run, e.g. a default `python -m explorer train --data
builtin` run), else a freshly built default HW model (width 0.25, one grey input channel: the default
data's inputs; random weights, timing does not depend on them). Its inputs: `--n` images of the
embedded default target, prepared as the run prepares them. Timed after the model is loaded: one
`explorer.analysis.cam.cams` call (torchcam's extractor, the layer check, upsampling and
normalisation included), median of `--repeats` (Score-CAM: a third as many).

Reference, in the same run: a minimal hand-written Grad-CAM (one forward hook, autograd.grad to the
layer, channel weights = mean gradients, ReLU, each map scaled to [0, 1], upsampled bilinearly and
scaled again, as `cams` does), timed in turns with the library's. It lives only here. Reported:
library time / reference time (goal at most 1.2x) and the largest absolute difference between the two
sets of maps (goal at most 1e-5).
"""

import argparse
import os
import platform
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F

from bench.bench_activations import median_ms


def paired_medians(fn, ref, repeats: int) -> tuple[float, float]:
    """Median seconds of `fn` and of `ref`, timed in turns (so a busier moment of the machine
    slows both alike)."""
    fn(), ref()
    a, b = [], []
    for _ in range(repeats):
        for f, times in ((fn, a), (ref, b)):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def median_s(fn, repeats: int) -> float:
    return median_ms(fn, repeats) / 1000


def reference_gradcam(model, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Grad-CAM by hand: the maps of the predicted classes, at the input's size, in [0, 1]."""
    module = dict(model.named_modules())[layer]
    kept = {}
    handle = module.register_forward_hook(lambda m, i, o: kept.__setitem__("a", o))
    try:
        logits = model(x)
    finally:
        handle.remove()
    a = kept["a"]
    score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
    (grad,) = torch.autograd.grad(score, a)
    with torch.no_grad():
        cam = torch.relu((grad.mean((2, 3), keepdim=True) * a).sum(1))
        flat = cam.flatten(1)
        cam = (cam - flat.amin(1).view(-1, 1, 1)) / (
            flat.amax(1).view(-1, 1, 1) - flat.amin(1).view(-1, 1, 1) + 1e-8
        )
        up = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[
            :, 0
        ].clamp_min(0)
        lo, hi = up.flatten(1).amin(1).view(-1, 1, 1), up.flatten(1).amax(1).view(-1, 1, 1)
        return torch.where(hi > lo, (up - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(up))


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    return next(
        (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
        platform.machine(),
    )


def classifier(run: str | None):
    from explorer.analysis.cam import Classifier, DannClassifier, _out_of_place, load_classifier
    from explorer.dann.models import build

    if run:
        return load_classifier(run), f"the run in {run}"
    torch.manual_seed(0)
    model = _out_of_place(DannClassifier(build(1, 10, 0.25)))

    def grey(images, domain):
        return images.float().mean(1, keepdim=True) / 255

    fresh = Classifier(model, tuple("0123456789"), 32, grey, "fresh")
    return fresh, "a freshly built default HW model (random weights)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="a trained run folder (default: a freshly built default model)")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--n", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    from explorer.analysis.cam import cams
    from explorer.data.builtin import load_builtin

    clf, what = classifier(args.run)
    x = clf.prepare(load_builtin(clf.image_size).target.images[: args.n], "target")
    print(
        f"machine: {cpu_name()}, {len(os.sched_getaffinity(0))} of {os.cpu_count()} cores usable, "
        f"{torch.get_num_threads()} torch threads; torch {torch.__version__}"
    )
    print(f"model: {what}; {args.n} target images {tuple(x.shape[1:])}")
    ours = cams(clf.model, x, "gradcam")
    reference = reference_gradcam(clf.model, x, ours.layer)
    diff = float((ours.maps - reference).abs().max())
    grad, ref = paired_medians(
        lambda: cams(clf.model, x, "gradcam"),
        lambda: reference_gradcam(clf.model, x, ours.layer),
        args.repeats,
    )
    score = median_s(lambda: cams(clf.model, x, "scorecam"), max(3, args.repeats // 3))
    finer = median_s(lambda: cams(clf.model, x, "scorecam", "feature.conv.14"), max(3, args.repeats // 3))
    print(
        f"layer {ours.layer}: Grad-CAM {grad * 1000:.1f} ms for {args.n} maps (goal < 200 ms); "
        f"reference by hand {ref * 1000:.1f} ms: {grad / ref:.2f}x (goal <= 1.2x); "
        f"max |difference| {diff:.1e} (goal <= 1e-5)"
    )
    print(
        f"Score-CAM {score:.2f} s for {args.n} maps (goal < 3 s); "
        f"at feature.conv.14 (block 4, 4x4) {finer:.2f} s"
    )


if __name__ == "__main__":
    main()
