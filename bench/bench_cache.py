"""What the multi-user housekeeping costs: the cache cap's check after every checkpoint, and the
once-a-minute sweep of ended sessions and cut-short writes.

    python -m bench.bench_cache [--runs 300] [--sessions 300] [--repeats 5]

A throw-away $EXPLORER_HOME is filled with `--runs` run folders (config, metrics, owners, lock,
five checkpoint files of the default model's size) plus one embedding each, and `--sessions`
upload folders of ten files. Timed: `cache.enforce()` (under the cap, so it only measures; a
training run calls it at its first and last epoch and at most every 30 s between) against the
reference measured in the same run, writing the checkpoint it follows (`checkpoints.save` of the
default width-0.25 DANN model with optimiser state); and `upload_folders.sweep_ended` +
`cache.sweep()` (the housekeeping pass, nothing to remove). Medians of `--repeats`.
"""

import argparse
import os
import platform
import tempfile

from bench.bench_activations import median_ms


def fill(runs: int, sessions: int, size: int) -> None:
    """`runs` run folders, each with five checkpoint files of `size` bytes and one embedding, and
    `sessions` upload folders of ten files, under $EXPLORER_HOME."""
    from explorer.store import upload_folders
    from explorer.store.home import subdir

    blob = os.urandom(size)
    for i in range(runs):
        d = subdir("runs") / f"{i:012x}"
        d.mkdir()
        for name in ("config.json", "metrics.jsonl", "owners", ".lock"):
            (d / name).write_text("{}\n")
        for name in ("last.pt", "epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt", "epoch_0005.pt"):
            (d / name).write_bytes(blob)
        (subdir("embeddings") / f"{i:012x}-0123456789.npz").write_bytes(blob[:4096])
    for i in range(sessions):
        folder = upload_folders.for_session(f"{i:08x}-0000-0000-0000-000000000000")
        for k in range(10):
            (folder / f"{k}.png").write_bytes(b"x" * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--sessions", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="bench-cache-")  # 1.4 GB: removed at the end
    os.environ["EXPLORER_HOME"] = scratch.name

    import torch

    from explorer.dann.models import build
    from explorer.store import cache, checkpoints, upload_folders
    from explorer.store.home import subdir

    models = build(3, 10, 0.25)
    opt = torch.optim.Adam(models.parameters())
    payload = {
        "epoch": 1,
        "models": models.state_dict(),
        "optim": opt.state_dict(),
        "metrics": [],
        "config": {},
    }
    probe = subdir("runs") / "probe"
    probe.mkdir()
    size = checkpoints.save(probe / "last.pt", payload).stat().st_size

    fill(args.runs, args.sessions, size)

    save = median_ms(lambda: checkpoints.save(probe / "last.pt", payload), args.repeats) / 1000
    enforce = median_ms(lambda: cache.enforce(cap=2**50), args.repeats) / 1000

    def housekeeping():
        upload_folders.sweep_ended(lambda _: True, 600)
        cache.sweep()

    sweep = median_ms(housekeeping, args.repeats) / 1000
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(
        f"cache: {args.runs} runs x 9 files + {args.runs} embeddings ({cache.usage() / 2**20:,.0f} MB); "
        f"{args.sessions} session folders; checkpoint {size / 2**10:,.0f} KiB"
    )
    print(f"reference, writing one checkpoint: {save * 1000:.1f} ms")
    print(
        f"cache.enforce():                   {enforce * 1000:.1f} ms ({enforce / save:.2f}x the write; "
        f"at most every 30 s of training, so {enforce / 30:.2%} of it)"
    )
    print(f"housekeeping sweep (once a minute): {sweep * 1000:.1f} ms ({sweep / save:.2f}x the write)")
    scratch.cleanup()


if __name__ == "__main__":
    main()
