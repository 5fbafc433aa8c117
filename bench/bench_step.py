"""DANN step speed: every speed path of this machine against a plain eager fp32 loop and a matmul roofline.

    python -m bench.bench_step [--device auto] [--steps 20] [--threads N] [--no-compile]

Prints markdown tables, ready for docs/BENCHMARKS.md:

1. the machine: CPU model and its vector / matrix flags, usable cores, torch threads, torch version;
2. the roofline: the best GFLOP/s of a 2048 x 2048 matmul in fp32 (and in bf16 where the CPU multiplies
   bf16 natively), measured in this process on the same threads;
3. for each shape: (a) the app's default step (width 0.25, batch 64, 1 channel, 32 px, 10 classes),
   (b) the homework's network (width 1, batch 256), (c) K = 4 copies of (a) stacked as one model
   (`explorer.execution.stacked`). The step's FLOPs are counted once on the eager fp32 path
   (`FlopCounterMode`: forward + backward, convolutions and matrix products only). Then the reference
   (the homework's two-step update as a plain eager fp32 NCHW loop, written here) and every
   `speed.candidates` path through `explorer.dann.step.dann_step`: ms per step (median of --steps
   after 3 warm-up steps), images/s (source + target), GFLOP/s, the share of the roofline of the
   path's precision and of the fp32 one, and img/s against the reference measured in the same run.
   Then `torch.compile` of the three networks (channels-last, fp32 and bf16), with its one-off compile
   time (the first step); (c) compares only the eager fp32 stack with the fastest path of (a);
4. the path `speed.choose("auto", ...)` picks for (a) and (b).

Nothing is written to the user's cache: EXPLORER_HOME is a temporary folder.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
WARMUP, LAMB, MATMUL_N, K = 3, 0.1, 2048, 4
CACHE_NOTE = (
    "compile s: the first step, compiled from scratch in this process; inductor's FX graph cache (on disk, "
    "on by default) shortens it on every later run of the same shapes, this bench's included."
)
HEADER = ["step", "compile s", "ms/step", "img/s", "GFLOP/s", "% roofline", "% fp32 roofline", "vs reference"]


def shapes():
    from explorer.dann.speed import Shape

    return {
        "(a) app default: width 0.25, batch 64": Shape(1, 10, 0.25, 64, 32),
        "(b) homework: width 1, batch 256": Shape(1, 10, 1.0, 256, 32),
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step, steps: int, device: torch.device) -> float:
    """Median seconds of `step()` over `steps` calls, after `WARMUP` calls."""
    for _ in range(WARMUP):
        step()
    sync(device)
    seconds = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync(device)
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def count_flops(step) -> int:
    """FLOPs of one call of `step` (convolutions and matrix products, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def print_machine(device: torch.device) -> None:
    from explorer.dann import speed
    from explorer.devices import usable_cpus

    flags = cpu_flags()
    rows = [
        ["CPU", speed.machine("cpu")],
        ["CPU flags", " ".join(f for f in FLAGS if f in flags) or f"none of {', '.join(FLAGS)}"],
        ["usable cores", str(usable_cpus())],
        ["torch threads", str(torch.get_num_threads())],
        ["torch", torch.__version__],
        ["load average (1 min) at start", f"{os.getloadavg()[0]:.2f}"],
        ["native bf16", "yes" if speed.native_bf16(device.type) else "no"],
    ]
    if device.type == "cuda":
        rows.append(["GPU", speed.machine("cuda")])
    print("## Machine\n")
    table(["", ""], rows)


def roofline(device: torch.device, repeats: int = 5) -> dict[str, float]:
    """Best GFLOP/s of a `MATMUL_N`-square matmul, fp32 and (where native) bf16."""
    from explorer.dann import speed

    dtypes = {"fp32": torch.float32}
    if speed.native_bf16(device.type):
        dtypes["bf16"] = torch.bfloat16
    best = {}
    for name, dtype in dtypes.items():
        g = torch.Generator().manual_seed(0)
        a, b = (torch.randn(MATMUL_N, MATMUL_N, generator=g).to(device, dtype) for _ in range(2))
        times = []
        for _ in range(repeats + 1):  # the first warms up
            sync(device)
            t0 = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - t0)
        best[name] = 2 * MATMUL_N**3 / min(times[1:]) / 1e9
    print(f"## Roofline: {MATMUL_N} x {MATMUL_N} matmul, best of {repeats}\n")
    table(["precision", "GFLOP/s"], [[k, f"{v:,.1f}"] for k, v in best.items()])
    return best


def row(name: str, seconds: float, images: int, flops: int, roof: dict, base_ips: float, bf16: bool):
    """[name, ms/step, img/s, GFLOP/s, % own roofline, % fp32 roofline, img/s vs `base_ips`]."""
    gflops, ips = flops / seconds / 1e9, images / seconds
    own = roof["bf16" if bf16 else "fp32"]
    return [
        name,
        f"{seconds * 1e3:.1f}",
        f"{ips:,.0f}",
        f"{gflops:.1f}",
        f"{gflops / own:.0%}",
        f"{gflops / roof['fp32']:.0%}",
        f"{ips / base_ips:.2f}x",
    ]


def inputs(shape, device: torch.device):
    """Random source images, labels and target images of `shape` (the same for every path)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2 * shape.batch, shape.in_channels, shape.size, shape.size, generator=g).to(device)
    y = torch.randint(0, shape.classes, (shape.batch,), generator=g).to(device)
    return x[: shape.batch].contiguous(), y, x[shape.batch :].contiguous()


def adam_pair(models, path=None):
    """Two Adam optimisers, F + C and D; fused where `path` asks for it (the reference: plain Adam)."""
    from explorer.dann.step import Optimisers

    kw = {"lr": 1e-3, **({"fused": True} if getattr(path, "fused", False) else {})}
    fc = list(models["feature"].parameters()) + list(models["label"].parameters())
    return Optimisers(torch.optim.Adam(fc, **kw), torch.optim.Adam(models["domain"].parameters(), **kw))


def networks(shape, device: torch.device, path=None):
    """The three networks (seeded, placed by `path`) and their two optimisers."""
    from explorer.dann.models import build

    torch.manual_seed(0)
    models = build(shape.in_channels, shape.classes, shape.width).to(device)
    models = path.place(models) if path is not None else models
    return models, adam_pair(models, path)


def reference_step(models, opts, xs, ys, xt) -> None:
    """The homework's two-step update, eager fp32 NCHW: D on BCE of detached features, then F + C on
    CE - lambda * BCE."""
    d = torch.cat([torch.zeros(len(xs)), torch.ones(len(xt))]).to(xs.device)
    f = models["feature"](torch.cat([xs, xt]))
    loss_d = F.binary_cross_entropy_with_logits(models["domain"](f.detach()), d)
    opts.d.zero_grad()
    loss_d.backward()
    opts.d.step()
    adversarial = F.binary_cross_entropy_with_logits(models["domain"](f), d)
    loss = F.cross_entropy(models["label"](f[: len(xs)]), ys) - LAMB * adversarial
    opts.fc.zero_grad()
    loss.backward()
    opts.fc.step()


def path_step(shape, device: torch.device, path, data, compiled: bool = False):
    """One `dann_step` on `path` as a function of nothing (fresh networks; each compiled if asked)."""
    from explorer.dann.step import Networks, dann_step

    models, opts = networks(shape, device, path)
    nets = Networks.of(models)
    if compiled:
        nets = Networks(*(torch.compile(models[part]) for part in ("feature", "label", "domain")))
    xs, ys, xt = path.layout(data[0]), data[1], path.layout(data[2])
    return lambda: dann_step(nets, opts, xs, ys, xt, LAMB, update="two-step", mmd_weight=0.0, speed=path)


def compile_rows(shape, device: torch.device, steps: int, data, flops: int, roof: dict, ref_ips: float):
    """Rows for the channels-last path with the three networks under `torch.compile` (fp32, and bf16
    where native), and notes for what could not run."""
    from explorer.dann import speed

    if device.type == "cpu" and not (shutil.which("g++") or shutil.which("cc")):
        return [], ["torch.compile: skipped (no C++ compiler on PATH)."]
    base = next(p for p in speed.candidates(device.type) if p.channels_last)  # its optimiser too
    paths = [replace(base, bf16=False)] + (
        [replace(base, bf16=True)] if speed.native_bf16(device.type) else []
    )
    rows, notes = [], []
    for path in paths:
        name = f"torch.compile: {path.words().replace('eager, ', '')}"
        torch._dynamo.reset()  # each compile from scratch (inductor's FX graph cache on disk stays)
        try:
            step = path_step(shape, device, path, data, compiled=True)
            t0 = time.perf_counter()
            step()
            sync(device)
            first = time.perf_counter() - t0
            seconds = timed(step, steps, device)
        except Exception as e:  # a bench reports what failed and goes on
            message = (str(e).strip().splitlines() or [""])[0][:200]
            notes.append(f"{name}: failed ({type(e).__name__}: {message})")
            continue
        r = row(name, seconds, 2 * shape.batch, flops, roof, ref_ips, path.bf16)
        rows.append(r[:1] + [f"{first:.1f}"] + r[1:])
    return rows, notes


def measure_shape(title: str, shape, device: torch.device, args, roof: dict):
    """Section 3 for one shape; returns the fastest eager path, the reference's img/s and the FLOPs."""
    from explorer.dann import speed
    from explorer.dann.speed import SpeedPath

    data, images = inputs(shape, device), 2 * shape.batch
    flops = count_flops(path_step(shape, device, SpeedPath(device.type), data))
    print(f"## {title}\n")
    print(f"{flops / 1e9:.2f} GFLOP per step (forward + backward; convolutions and matrix products).\n")
    models, opts = networks(shape, device)
    ref = timed(lambda: reference_step(models, opts, *data), args.steps, device)
    ref_ips = images / ref
    rows = [row("reference: homework loop, eager fp32 NCHW", ref, images, flops, roof, ref_ips, False)]
    times = {}
    # bf16 is no candidate on a CPU (it lost accuracy, see explorer/dann/speed.py); timed here all the same
    native = speed.native_bf16(device.type) and device.type == "cpu"
    for path in (
        speed.candidates(device.type) + [replace(p, bf16=True) for p in speed.candidates("cpu")] * native
    ):
        times[path] = timed(path_step(shape, device, path, data), args.steps, device)
        rows.append(row(f"dann_step: {path.words()}", times[path], images, flops, roof, ref_ips, path.bf16))
    rows = [r[:1] + ["-"] + r[1:] for r in rows]
    notes = []
    if args.compile:
        more, notes = compile_rows(shape, device, args.steps, data, flops, roof, ref_ips)
        rows += more
        notes.insert(0, CACHE_NOTE)
    table(HEADER, rows)
    for note in notes:
        print(note + "\n")
    return min(times, key=times.get), ref_ips, flops


def stacked_step(dataset, path, folder: Path, device_name: str):
    """`StackedTrainer.step` of K runs of (a) on the embedded data, on `path`, as a function of nothing."""
    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.execution.stacked import StackedTrainer

    trainers = []
    for seed in range(K):
        config = TrainConfig(
            width=0.25,
            batch_size=64,
            image_size=32,
            lamb=LAMB,
            seed=seed,
            canny=(100, 200),
            augment="rotate",
            fast="off",
            device=device_name,
        )
        t = Trainer(config, dataset, folder / f"run{seed}")
        t.speed = path  # the path under test (fast="off" built NCHW fp32 networks: placed in place)
        t.opts = adam_pair(path.place(t.models), path)  # the stack's optimisers copy these defaults
        t.begin()
        trainers.append(t)
    stack = StackedTrainer(trainers)
    stack._stack()
    picks = [t.batch(t.plan("dann"), 0) for t in trainers]
    xs, ys = torch.stack([p.xs for p in picks]), torch.stack([p.ys for p in picks])
    xt = torch.stack([t.inputs(p.xt, augment=True) for t, p in zip(trainers, picks)])
    lamb = torch.tensor([p.lamb for p in picks], device=xs.device)
    return lambda: stack.step(xs, ys, xt, lamb)


def measure_stacked(device: torch.device, args, roof: dict, fastest, ref_a_ips: float, flops_a: int):
    """Section 3 (c): the eager fp32 stack against the stack on (a)'s fastest path. GFLOP/s count the
    useful work, K times (a)'s FLOPs: `FlopCounterMode` ignores the groups of a grouped convolution's
    weight gradient (each copy's convolution under vmap), so its count for the stack is too high."""
    from explorer.dann.speed import SpeedPath
    from explorer.data.builtin import load_builtin

    dataset, images = load_builtin(32), K * 2 * 64
    print(f"## (c) stacked: {K} copies of (a) as one model (StackedTrainer.step, embedded data)\n")
    rows, base_ips = [], None
    with tempfile.TemporaryDirectory() as tmp:
        eager = SpeedPath(device.type)
        counted, flops = (
            count_flops(stacked_step(dataset, eager, Path(tmp) / "flops", args.device)),
            K * flops_a,
        )
        print(
            f"{flops / 1e9:.2f} GFLOP per step of all {K} copies ({K} x (a)); FlopCounterMode counts "
            f"{counted / 1e9:.2f} (it ignores the groups of a grouped convolution's weight gradient).\n"
        )
        for i, path in enumerate(dict.fromkeys([eager, fastest])):
            seconds = timed(stacked_step(dataset, path, Path(tmp) / f"p{i}", args.device), args.steps, device)
            base_ips = base_ips or images / seconds
            r = row(f"stacked x{K}: {path.words()}", seconds, images, flops, roof, base_ips, path.bf16)
            rows.append(r[:3] + [f"{images / K / seconds:,.0f}"] + r[3:])
    header = ["step", "ms/step", f"img/s ({K} copies)", "img/s per copy", *HEADER[4:7], "vs eager fp32 stack"]
    table(header, rows)
    best = max(float(r[2].replace(",", "")) for r in rows)
    print(
        f"{K} runs one after another on (a)'s reference loop: {ref_a_ips:,.0f} img/s in all; "
        f"the fastest stack: {best:,.0f} img/s ({best / ref_a_ips:.2f}x).\n"
    )


def print_choices(device: torch.device) -> None:
    from explorer.dann.speed import choose

    rows = []
    for title, shape in shapes().items():
        path, seconds = choose("auto", device, shape)
        rows.append([title, path.words(), f"{seconds * 1e3:.1f}"])
    print("## What speed.choose('auto') picks\n")
    table(["shape", "path", "its timed ms/step (best of 3)"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=20, help="steps timed per path (after 3 warm-up steps)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: the usable CPUs)")
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    args = ap.parse_args()
    home = tempfile.TemporaryDirectory(prefix="bench-step-")
    os.environ["EXPLORER_HOME"] = home.name
    from explorer.devices import pick, use_usable_cpus

    if args.threads:
        torch.set_num_threads(args.threads)
    else:
        use_usable_cpus()
    device = pick(args.device)
    print_machine(device)
    roof = roofline(device)
    first = None
    for title, shape in shapes().items():
        measured = measure_shape(title, shape, device, args, roof)
        first = first or measured
    measure_stacked(device, args, roof, *first)
    print_choices(device)
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    home.cleanup()


if __name__ == "__main__":
    main()
