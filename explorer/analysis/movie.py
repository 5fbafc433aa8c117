"""A run's training movie: the same sampled images embedded at every saved epoch, each frame
starting from the one before, so that the source and target clouds can be watched folding together.

Every frame takes the same points (the fixed-seed sample of `explorer.analysis.embedding`) through
that epoch's feature extractor. Independent t-SNE maps of two epochs cannot be compared: each has
its own rotation, reflection and layout. Here the first frame is an ordinary embedding, and every
later one starts from the previous frame's coordinates, with affinities from an exact k-NN search
(3.4x faster than Annoy's index at 4,000 points, and the movie computes one per frame), and runs
`SCHEDULE`: 80 iterations at exaggeration 4, then 40 plain ones. openTSNE's early exaggeration (12,
for 250 iterations) exists to untangle a random start and would restart the layout; none at all keeps
the layout but leaves it stuck with the previous epoch's clusters (trustworthiness 0.89 against 0.98
for independent maps); a third of it for 80 iterations lets the clusters regroup while the layout
stays (0.97, and still 6x steadier than independent maps; bench/bench_movie.py). So a point whose
features did not move barely moves on screen. In PCA mode each frame's two components are turned
onto the previous frame by orthogonal Procrustes (the rotation or reflection that fits best in least
squares).

Each frame carries numbers measured in feature space, not in the picture: domain mixing (k = 10,
`explorer.analysis.alignment.domain_mixing`), the proxy A-distance and, when the target is
labelled, target accuracy; and which points' predicted class changed since the previous frame.

Frames are cached on disk one by one in ``$EXPLORER_HOME/embeddings/<run id>-movie-<key>.npz``. A
frame's key chains the previous frame's key with its own checkpoint's, so new epochs of a run still
training are added without recomputing the old ones, and a changed early checkpoint recomputes what
follows it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.analysis import alignment
from explorer.analysis.embedding import METHODS, TSNE_GRID, cache_key, check_checkpoint, check_perplexity, embed, reduce, sample_features
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.store import cache as run_cache
from explorer.store import checkpoints
from explorer.store.home import subdir

SCHEDULE = ((80, 4.0), (40, None))  # (iterations, exaggeration) of every frame after the first: see above
COLUMNS = ["epoch", "index", "domain", "label", "predicted", "x", "y"]


@dataclass(frozen=True)
class Frame:
    epoch: int
    coords: np.ndarray  # (N, 2) float32
    pred: np.ndarray  # predicted class of each point
    changed: np.ndarray  # bool: the prediction differs from the previous frame's (none in the first)
    mixing: float
    a_distance: float
    target_acc: float | None


@dataclass(frozen=True)
class Movie:
    frames: list[Frame]
    domain: np.ndarray  # 0 source, 1 target: the same points in every frame
    label: np.ndarray  # -1 where unknown
    index: np.ndarray  # position in its domain
    classes: tuple[str, ...]
    skipped: list[str]  # one sentence per checkpoint left out, naming it
    seconds: float  # spent computing now (0 when every frame came from the cache)
    computed: int  # frames computed now

    @property
    def note(self) -> str | None:
        if len(self.frames) == 1:
            return (
                f"Only one checkpoint (epoch {self.frames[0].epoch}) could be shown, so the movie has one frame: a run keeps "
                "epochs 0, 1, 2, 3, 5, 7, 10, 15, 20, 30, ... and its last; train longer, or wait for the next one."
            )
        return None


def epoch_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """A run's ``epoch_NNNN.pt`` files in epoch order; a clear error when there are none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExplorerError(f"{run_dir} is not a run folder (it does not exist, or is a file).")
    found = sorted((p for p in run_dir.glob("epoch_*.pt") if p.stem[6:].isdigit()), key=lambda p: int(p.stem[6:]))
    if not found:
        raise ExplorerError(
            f"{run_dir} has no epoch checkpoints (epoch_NNNN.pt), so there is nothing to make a movie of; "
            "give a folder `train --out` wrote, or train the run first."
        )
    return found


def frame_files(run_dir: str | os.PathLike) -> list[Path]:
    """The checkpoints the movie shows: every ``epoch_NNNN.pt``, and ``last.pt`` unless the run is
    training (a run stopped between kept epochs has its last epoch only there)."""
    files = epoch_checkpoints(run_dir)
    last = Path(run_dir) / "last.pt"
    if last.is_file() and not run_cache.busy(Path(run_dir)):
        files.append(last)
    return files


def procrustes(y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`y` turned (rotated or reflected, not scaled) about its centre to fit `reference`, and moved onto its centre."""
    from scipy.linalg import orthogonal_procrustes

    a, centre = y - y.mean(0), reference.mean(0)
    r, _ = orthogonal_procrustes(a, reference - centre)
    return (a @ r + centre).astype(np.float32)


def next_frame(previous: np.ndarray | None, features: np.ndarray, method: str, perplexity: float, seed: int) -> np.ndarray:
    """2-D coordinates of `features`: an ordinary embedding for the first frame, else one that starts from `previous`."""
    if previous is None:
        return embed(features, method, perplexity, seed)
    x = reduce(features, seed)
    if method == "pca":
        return procrustes(x[:, :2], previous)
    check_perplexity(len(x), perplexity)
    from openTSNE import TSNEEmbedding, affinity

    jobs = os.cpu_count() or 1
    affinities = affinity.PerplexityBasedNN(x, perplexity=perplexity, method="exact", n_jobs=jobs, random_state=seed, verbose=False)
    emb = TSNEEmbedding(previous.astype(np.float64), affinities, n_jobs=jobs, random_state=seed, **TSNE_GRID)
    for iterations, exaggeration in SCHEDULE:
        emb = emb.optimize(n_iter=iterations, exaggeration=exaggeration, momentum=0.8)
    return np.asarray(emb, dtype=np.float32)


def jitter(frames: list[np.ndarray]) -> float:
    """How much the picture moves between consecutive frames: the median distance a point travels,
    over the extent of the map it lands in (the diagonal of its 1st-99th percentile box); the median
    over consecutive pairs. Unaligned t-SNE maps score about 0.3-0.5 whatever the features did."""
    steps = []
    for a, b in zip(frames, frames[1:]):
        extent = np.linalg.norm(np.percentile(b, 99, 0) - np.percentile(b, 1, 0))
        steps.append(np.median(np.linalg.norm(b - a, axis=1)) / extent)
    return float(np.median(steps))


def _mismatch(ckpt: dict, info: dict, epoch: int) -> str | None:
    """Why a checkpoint is not the run's epoch `epoch` (the run's config.json is `info`), or None."""
    if ckpt["epoch"] != epoch:
        return f"it holds epoch {ckpt['epoch']}, not the epoch its name says"
    if "width" in info and ckpt["arch"]["width"] != info["width"]:
        return f"it has another architecture (width {ckpt['arch']['width']:g}; the run's is {info['width']:g})"
    for key, value in ckpt["config"].items():
        if key != "device" and key in info and info[key] != value:
            return f"it was saved by another run (its {key} is {value}; the run's is {info[key]})"
    return None


def movie(
    run_dir: str | os.PathLike,
    dataset: Dataset,
    n: int,
    method: str = "tsne",
    perplexity: float = 30.0,
    seed: int = 0,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Movie:
    """Every saved epoch of the run in `run_dir` as one aligned sequence of frames (see the module's docstring)."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown embedding method {method!r}; choose tsne or pca.")
    files = frame_files(run_dir)
    try:
        info = json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError):
        info = {}
    chain = json.dumps([dataset.fingerprint, n, seed, method, perplexity, SCHEDULE])
    frames: list[Frame] = []
    skipped: list[str] = []
    fixed: dict | None = None  # domain, label, index: the same in every frame
    t0, computed = time.perf_counter(), 0
    for k, path in enumerate(files):
        if progress:
            progress(k, len(files))
        key = hashlib.blake2b((chain + cache_key(path, dataset, n, seed, method, perplexity)).encode(), digest_size=10).hexdigest()
        cache = subdir("embeddings") / f"{Path(run_dir).name}-movie-{key}.npz"
        got = _load(cache)
        if got is None:
            try:
                ckpt = checkpoints.load(path)
                if path.name == "last.pt":
                    if frames and ckpt["epoch"] <= frames[-1].epoch:
                        continue  # the last kept epoch already: a finished run
                    epoch = ckpt["epoch"]
                else:
                    epoch = int(path.stem[6:])
                check_checkpoint(ckpt, dataset)
                why = _mismatch(ckpt, info, epoch)
                if why:
                    raise ExplorerError(f"{why}.")
                f = sample_features(path, dataset, n, seed, device)
            except ExplorerError as e:
                skipped.append(f"{path.name} was left out: {e}")
                continue
            previous = frames[-1].coords if frames else None
            coords = next_frame(previous, f.features, method, perplexity, seed)
            got = {
                "epoch": f.epoch,
                "coords": coords,
                "pred": f.pred,
                "mixing": alignment.domain_mixing(f.features, f.domain),
                "a_distance": alignment.proxy_a_distance(f.features, f.domain, seed),
                "target_acc": np.nan if f.target_acc is None else f.target_acc,
                "domain": f.domain,
                "label": f.label,
                "index": f.index,
                "classes": np.array(f.classes),
            }
            _save(cache, got)
            computed += 1
        fixed = fixed or got
        changed = frames[-1].pred != got["pred"] if frames else np.zeros(len(got["pred"]), bool)
        acc = float(got["target_acc"])
        frames.append(Frame(int(got["epoch"]), got["coords"], got["pred"], changed, float(got["mixing"]),
                            float(got["a_distance"]), None if np.isnan(acc) else acc))  # fmt: skip
        chain = key
    if progress:
        progress(len(files), len(files))
    if not frames:
        raise ExplorerError("None of the run's checkpoints could be used: " + " ".join(skipped))
    return Movie(frames, fixed["domain"], fixed["label"], fixed["index"], tuple(fixed["classes"].tolist()), skipped,
                 time.perf_counter() - t0 if computed else 0.0, computed)  # fmt: skip


def _load(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        return None  # a broken cache entry is recomputed


def _save(path: Path, arrays: dict) -> None:
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------- exports
def table(mv: Movie) -> pd.DataFrame:
    """One row per point per frame: epoch, index, domain, label, predicted, x, y (class names; label empty when unknown)."""
    names = np.array(mv.classes)
    label = np.where(mv.label >= 0, names[np.maximum(mv.label, 0)], "")
    domain = np.where(mv.domain == 0, "source", "target")
    parts = [
        pd.DataFrame(
            {
                "epoch": f.epoch,
                "index": mv.index,
                "domain": domain,
                "label": label,
                "predicted": names[f.pred],
                "x": f.coords[:, 0],
                "y": f.coords[:, 1],
            }
        )  # fmt: skip
        for f in mv.frames
    ]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def csv(mv: Movie) -> str:
    return table(mv).to_csv(index=False, float_format="%.4f")


DOMAIN_RGB = ("#e4572e", "#2e86ab")  # the page's source and target colours
CLASS_RGB = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")  # tableau10


def gif(mv: Movie, side: int = 360, ms_per_frame: int = 700) -> bytes:
    """An animated GIF, one frame per epoch: by domain on the left, by class (true, or predicted for
    an unlabelled target) on the right, points whose prediction changed ringed in black; the same
    axes in every frame, so motion on screen is motion of the points."""
    from PIL import Image, ImageDraw, ImageFont

    every = np.concatenate([f.coords for f in mv.frames])
    lo, hi = every.min(0), every.max(0)
    scale = (side - 20) / max(float((hi - lo).max()), 1e-9)
    font = ImageFont.load_default(size=15)
    top = 52  # two lines of text above the panels
    images = []
    for f in mv.frames:
        img = Image.new("RGB", (2 * side, side + top), "white")
        draw = ImageDraw.Draw(img)
        xy = (f.coords - lo) * scale + 10
        cls = np.where(mv.label >= 0, mv.label, f.pred)
        for panel, colours in ((0, [DOMAIN_RGB[d] for d in mv.domain]), (1, [CLASS_RGB[c % 10] for c in cls])):
            for (x, y), c, ring in zip(xy, colours, f.changed):
                x, y = x + panel * side, side + top - y
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=c, outline="black" if ring else None)
        acc = "" if f.target_acc is None else f" · target acc {f.target_acc:.2f}"
        draw.text((8, 6), f"epoch {f.epoch} · mixing {f.mixing:.2f} · A-distance {f.a_distance:.2f}{acc}", fill="black", font=font)
        draw.text((8, 28), "by domain:", fill="#555555", font=font)
        for k, (name, c) in enumerate(zip(("source", "target"), DOMAIN_RGB)):
            x = 100 + 80 * k
            draw.ellipse((x, 33, x + 8, 41), fill=c)
            draw.text((x + 12, 28), name, fill="#555555", font=font)
        draw.text((side + 8, 28), "by class · ringed: prediction changed", fill="#555555", font=font)
        draw.line((side, top, side, side + top), fill="#d2d2d2")
        images.append(img)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()
