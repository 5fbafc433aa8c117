"""A run's training movie: the same sampled images embedded at every saved epoch, each frame
starting from the one before, so that the source and target clouds can be watched folding together.

Every frame takes the same points (the fixed-seed sample of `explorer.analysis.embedding`) through
that epoch's feature extractor. The first frame is an ordinary embedding and every later one is
placed from the previous frame's coordinates (`explorer.analysis.warmstart`: t-SNE warm-started
with a short schedule, PCA turned by Procrustes), so a point whose features did not move barely
moves on screen.

Each frame carries numbers measured in feature space, not in the picture: domain mixing (k = 10,
`explorer.analysis.alignment.domain_mixing`), the proxy A-distance and, when the target is
labelled, target accuracy; and which points' predicted class changed since the previous frame.

Frames are cached on disk one by one in ``$EXPLORER_HOME/embeddings/<run id>-movie-<key>.npz``. A
frame's key chains the previous frame's key with its own checkpoint's, so new epochs of a run still
training are added without recomputing the old ones, and a changed early checkpoint recomputes what
follows it.

The movie as files (a CSV of points, an animated GIF) is `explorer.analysis.movie_export`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.analysis import alignment, warmstart
from explorer.analysis.embedding import METHODS, Features, cache_key, check_checkpoint, sample_features
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.store import cache as run_cache
from explorer.store import checkpoints
from explorer.store.home import subdir


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
                f"Only one checkpoint (epoch {self.frames[0].epoch}) could be shown, so the movie has one "
                "frame: a run keeps epochs 0, 1, 2, 3, 5, 7, 10, 15, 20, 30, ... and its last; train longer, "
                "or wait for the next one."
            )
        return None


def epoch_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """A run's ``epoch_NNNN.pt`` files in epoch order; a clear error when there are none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExplorerError(f"{run_dir} is not a run folder (it does not exist, or is a file).")
    found = sorted(
        (p for p in run_dir.glob("epoch_*.pt") if p.stem[6:].isdigit()), key=lambda p: int(p.stem[6:])
    )
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


def _frames_to_show(files: list[Path]) -> list[Path]:
    """`files` without ``last.pt`` when it holds an epoch an ``epoch_NNNN.pt`` already shows (a finished
    run): then one file is one frame, and `movie`'s progress counts the frames there will be."""
    if len(files) < 2 or files[-1].name != "last.pt":
        return files
    try:
        epoch = checkpoints.load(files[-1])["epoch"]
    except ExplorerError:
        return files  # left out while the frames are made, with its reason
    return files[:-1] if epoch <= int(files[-2].stem[6:]) else files


def _mismatch(ckpt: dict, info: dict, epoch: int) -> str | None:
    """Why a checkpoint is not the run's epoch `epoch` (the run's config.json is `info`), or None."""
    if ckpt["epoch"] != epoch:
        return f"it holds epoch {ckpt['epoch']}, not the epoch its name says"
    if "width" in info and ckpt["arch"]["width"] != info["width"]:
        return (
            f"it has another architecture (width {ckpt['arch']['width']:g}; the run's is {info['width']:g})"
        )
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
    """Every saved epoch of the run in `run_dir` as one aligned sequence of frames (see the module's
    docstring). `progress(done, total)` is called before each checkpoint and once at the end. A
    checkpoint that is not this run's epoch is left out with a sentence in `Movie.skipped`; a run
    with none usable is an `ExplorerError`."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown embedding method {method!r}; choose tsne or pca.")
    files = _frames_to_show(frame_files(run_dir))
    recipe = _Recipe(Path(run_dir), dataset, n, method, perplexity, seed, device)
    t0 = time.perf_counter()
    frames, first, skipped, computed = _frames(recipe, files, progress)
    if not frames:
        raise ExplorerError("None of the run's checkpoints could be used: " + " ".join(skipped))
    return Movie(
        frames,
        first["domain"],
        first["label"],
        first["index"],
        tuple(first["classes"].tolist()),
        skipped,
        time.perf_counter() - t0 if computed else 0.0,
        computed,
    )


@dataclass(frozen=True)
class _Recipe:
    """What every frame of one movie shares: the run, the data and sample, the embedding's settings."""

    run_dir: Path
    dataset: Dataset
    n: int
    method: str
    perplexity: float
    seed: int
    device: str

    def first_key(self) -> str:
        """The start of the chain of cache keys: everything but the checkpoints."""
        return json.dumps(
            [self.dataset.fingerprint, self.n, self.seed, self.method, self.perplexity, warmstart.SCHEDULE]
        )

    def key(self, previous: str, path: Path) -> str:
        """A frame's cache key: the previous frame's key chained with its own checkpoint's."""
        own = cache_key(path, self.dataset, self.n, self.seed, self.method, self.perplexity)
        return hashlib.blake2b((previous + own).encode(), digest_size=10).hexdigest()

    def cache_file(self, key: str) -> Path:
        """Where the frame with this key is cached."""
        return subdir("embeddings") / f"{self.run_dir.name}-movie-{key}.npz"


def _frames(
    recipe: _Recipe, files: list[Path], progress: Callable[[int, int], None] | None
) -> tuple[list[Frame], dict | None, list[str], int]:
    """The frames of `files` in order, each from its cache file or computed from the one before;
    with the first frame's arrays (the points' domain, label, index, classes), the sentences of
    the checkpoints left out, and how many frames were computed now."""
    info = _run_config(recipe.run_dir)
    chain = recipe.first_key()
    frames: list[Frame] = []
    skipped: list[str] = []
    first: dict | None = None
    computed = 0
    for k, path in enumerate(files):
        if progress:
            progress(k, len(files))
        key = recipe.key(chain, path)
        previous = frames[-1] if frames else None
        cache = recipe.cache_file(key)
        got = _load(cache)
        if got is None:
            try:
                f = _features(recipe, path, info, previous)
            except ExplorerError as e:
                skipped.append(f"{path.name} was left out: {e}")
                continue
            if f is None:
                continue  # last.pt holds the last kept epoch already: a finished run
            got = _measure(recipe, f, previous)
            _save(cache, got)
            computed += 1
        first = first or got
        frames.append(_frame(got, previous))
        chain = key
    if progress:
        progress(len(files), len(files))
    return frames, first, skipped, computed


def _run_config(run_dir: Path) -> dict:
    """The run's config.json, or {} when it cannot be read (the checkpoints are then checked against
    the data only)."""
    try:
        return json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def _features(recipe: _Recipe, path: Path, info: dict, previous: Frame | None) -> Features | None:
    """The sampled points' features through the checkpoint at `path`, or None for ``last.pt`` when it
    holds an epoch the movie has already shown. An `ExplorerError` says why the checkpoint cannot be a
    frame: unreadable, for other data, or not this run's epoch."""
    ckpt = checkpoints.load(path)
    if path.name == "last.pt":
        if previous is not None and ckpt["epoch"] <= previous.epoch:
            return None
        epoch = ckpt["epoch"]
    else:
        epoch = int(path.stem[6:])
    check_checkpoint(ckpt, recipe.dataset)
    why = _mismatch(ckpt, info, epoch)
    if why:
        raise ExplorerError(f"{why}.")
    return sample_features(path, recipe.dataset, recipe.n, recipe.seed, recipe.device)


def _measure(recipe: _Recipe, f: Features, previous: Frame | None) -> dict:
    """A frame's arrays, as cached: its coordinates (from the previous frame's, `warmstart.next_frame`),
    predictions, the alignment numbers of its features (NaN accuracy for an unlabelled target), and
    the points' fixed domain, label, index and the class names."""
    coords = warmstart.next_frame(
        None if previous is None else previous.coords,
        f.features,
        recipe.method,
        recipe.perplexity,
        recipe.seed,
    )
    return {
        "epoch": f.epoch,
        "coords": coords,
        "pred": f.pred,
        "mixing": alignment.domain_mixing(f.features, f.domain),
        "a_distance": alignment.proxy_a_distance(f.features, f.domain, recipe.seed),
        "target_acc": np.nan if f.target_acc is None else f.target_acc,
        "domain": f.domain,
        "label": f.label,
        "index": f.index,
        "classes": np.array(f.classes),
    }


def _frame(got: dict, previous: Frame | None) -> Frame:
    """A `Frame` of cached arrays; `changed` compares its predictions with the previous frame's."""
    changed = previous.pred != got["pred"] if previous is not None else np.zeros(len(got["pred"]), bool)
    acc = float(got["target_acc"])
    return Frame(
        int(got["epoch"]),
        got["coords"],
        got["pred"],
        changed,
        float(got["mixing"]),
        float(got["a_distance"]),
        None if np.isnan(acc) else acc,
    )


def _load(path: Path) -> dict | None:
    """A frame's cached arrays, or None when there are none (or they cannot be read)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        return None  # a broken cache entry is recomputed


def _save(path: Path, arrays: dict) -> None:
    """Write to a temporary name, then rename: a reader never sees half a frame."""
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
