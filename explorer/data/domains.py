"""A domain is a set of images as one uint8 tensor; a dataset is a labelled source and a target.

Folder layouts understood (`load_domain`):

* ImageFolder: ``root/<class>/<image>`` (images may sit deeper inside a class folder). Files
  are taken in torchvision ImageFolder order (class folders sorted, then files sorted within
  each), which is the order a submission's ``id`` counts in; a skipped file keeps its place, so
  ids do not shift.
* A flat folder of images: one unlabelled set.
* A single wrapper folder around either of those (what zipping a folder produces) is stepped into.
* A .zip of any of these, extracted safely (`explorer.data.archives`) once into
  ``$EXPLORER_HOME/unpacked``.

Two-domain layouts (`open_dataset` with one path):

* the homework's ``real_or_drawing/``: ``train_data/<0..9>/*.bmp`` is the labelled source and
  ``test_data/0/*.bmp`` the unlabelled target;
* ``source/`` beside ``target/``.

Target labels are used (for evaluation only) when the target has at least two class folders
whose names are all source class names; they are then renumbered to the source's class indices.
A single class folder, like the homework's ``test_data/0``, means unlabelled.

Unreadable files are skipped and counted in ``Domain.skipped`` with the reason; only a folder in
which nothing can be read is an error.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from explorer.data.archives import unpack
from explorer.data.images import IMAGE_EXTENSIONS, ImageError, is_image_name, read_image
from explorer.devices import usable_cpus
from explorer.errors import DataError, printable
from explorer.store.home import subdir

PAIR_LAYOUTS = (("train_data", "test_data"), ("source", "target"))


@dataclass(frozen=True, eq=False)
class Domain:
    """Images of one domain. ``labels`` is None for an unlabelled domain."""

    name: str
    images: torch.Tensor  # (N, C, H, W) uint8, C = 1 (all grey) or 3
    labels: torch.Tensor | None  # (N,) int64 indices into `classes`
    classes: tuple[str, ...]
    files: tuple[str, ...]  # relative paths, sorted (ImageFolder order)
    origin: str
    sizes: np.ndarray = field(repr=False)  # (N, 2) original width, height
    modes: tuple[str, ...] = field(repr=False)  # original PIL modes
    skipped: tuple[tuple[str, str], ...] = ()  # (file, reason)
    notes: tuple[str, ...] = ()  # things the user should know, as sentences
    ids: np.ndarray | None = field(default=None, repr=False)  # submission ids: position among all files found

    def __post_init__(self):
        if self.ids is None:
            object.__setattr__(self, "ids", np.arange(len(self.files)))

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @cached_property
    def fingerprint(self) -> str:
        """Hash of pixels, labels and class names: the data's identity for caching."""
        h = hashlib.blake2b(digest_size=12)
        h.update(repr((tuple(self.images.shape), self.classes, self.labelled)).encode())
        h.update(self.images.numpy().tobytes())
        if self.labels is not None:
            h.update(self.labels.numpy().tobytes())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled source domain and a target domain, as the pages and the engine use them."""

    name: str
    source: Domain
    target: Domain

    @property
    def classes(self) -> tuple[str, ...]:
        return self.source.classes

    @property
    def notes(self) -> tuple[str, ...]:
        return self.source.notes + self.target.notes

    @property
    def fingerprint(self) -> str:
        return hashlib.blake2b(
            (self.source.fingerprint + self.target.fingerprint).encode(), digest_size=12
        ).hexdigest()


def _visible(entries):
    return sorted(e for e in entries if not e.name.startswith(".") and e.name != "__MACOSX")


def _unwrap(root: Path) -> Path:
    """Step into single wrapper folders (``x.zip`` -> ``x/``) that hold nothing but one folder of folders."""
    while True:
        entries = _visible(root.iterdir())
        if len(entries) != 1 or not entries[0].is_dir():
            return root
        inner = entries[0]
        if not any(e.is_dir() for e in _visible(inner.iterdir())):
            return root  # `inner` is a class folder, not a wrapper
        root = inner


def _as_folder(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        return unpack(path, subdir("unpacked"))
    if not path.exists():
        raise DataError(f"Not found: {path}")
    return path


def find_pair(root: str | os.PathLike) -> tuple[Path, Path] | None:
    """(source, target) folders if `root` (or a wrapper inside it) is a two-domain layout."""
    root = _as_folder(root)
    if not root.is_dir():
        return None
    for candidate in (root, _unwrap(root)):
        names = {e.name for e in candidate.iterdir() if e.is_dir()}
        for src, tgt in PAIR_LAYOUTS:
            if {src, tgt} <= names:
                return candidate / src, candidate / tgt
    return None


def scan_folder(root: Path) -> tuple[list[tuple[str, str | None]], list[str]]:
    """List ``(relative path, class or None)`` of image files in ImageFolder order, plus notes."""
    notes = []
    subdirs = [e for e in _visible(root.iterdir()) if e.is_dir()]
    loose = [e.name for e in _visible(root.iterdir()) if e.is_file() and is_image_name(e.name)]
    names = {d.name for d in subdirs}
    for src, tgt in PAIR_LAYOUTS:
        if {src, tgt} <= names:
            raise DataError(
                f"{root} holds two domains ({src}/ and {tgt}/): open it as a dataset, "
                f"or choose {src}/ or {tgt}/ as one domain."
            )
    if not subdirs:
        return [(name, None) for name in loose], notes
    if loose:
        notes.append(
            f"{len(loose):,} image(s) directly in {root.name}/ were ignored: "
            f"in a class layout, images belong in {root.name}/<class>/."
        )
    found, empty = [], []
    for d in subdirs:
        files, walked = [], []
        for dirpath, dirnames, filenames in os.walk(d):
            # hidden folders skipped
            dirnames[:] = [n for n in dirnames if not n.startswith(".") and n != "__MACOSX"]
            walked.append((dirpath, filenames))
        # torchvision's order: sorted by folder path, then file name
        for dirpath, filenames in sorted(walked):
            rel = os.path.relpath(dirpath, root)
            files += [(os.path.join(rel, f), d.name) for f in sorted(filenames) if is_image_name(f)]
        if files:
            found += files
        else:
            empty.append(d.name)
    if empty:
        notes.append(f"Empty class folder(s) skipped: {', '.join(empty)}.")
    return found, notes


def load_domain(
    root: str | os.PathLike, *, size: int = 32, name: str | None = None, workers: int | None = None
) -> Domain:
    """Load every image under `root` (see the module docstring for layouts) at `size` x `size`."""
    if size < 8 or size > 512:
        raise DataError(f"Image size {size} is out of range (8 to 512).")
    root = _as_folder(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder or a .zip.")
    root = _unwrap(root)
    entries, notes = scan_folder(root)
    if not entries:
        others = sum(len(f) for _, _, f in os.walk(root))
        raise DataError(
            f"No images in {root}: expected {root.name}/<class>/<image> or images directly inside, "
            f"with one of {', '.join(sorted(IMAGE_EXTENSIONS))}; found {others:,} other file(s)."
        )

    def read(entry):
        try:
            return read_image(root / entry[0], size)
        except ImageError as e:
            return str(e)
        except OSError as e:  # unreadable on disk: permissions, a broken link
            return f"cannot open ({e.strerror or e})"
        except Exception as e:  # never let one file stop the whole folder
            return f"unreadable ({type(e).__name__}: {e})"

    # Decoders release the GIL (OpenCV, PIL's C code); more threads than cores only contend, and
    # chunks keep the pool's per-task cost (~100 us) off each small image.
    chunks = [entries[i : i + 256] for i in range(0, len(entries), 256)]
    with ThreadPoolExecutor(workers or usable_cpus()) as pool:
        results = [r for chunk in pool.map(lambda c: [read(e) for e in c], chunks) for r in chunk]

    good = [(e, r) for e, r in zip(entries, results) if not isinstance(r, str)]
    ids = np.array([k for k, r in enumerate(results) if not isinstance(r, str)], dtype=np.int64)
    skipped = tuple((printable(e[0]), r) for e, r in zip(entries, results) if isinstance(r, str))
    if not good:
        first, reason = skipped[0]
        raise DataError(
            f"None of the {len(entries):,} image file(s) in {root} could be read (e.g. {first}: {reason})."
        )
    if skipped:
        notes.append(
            f"{len(skipped):,} of {len(entries):,} file(s) in {root.name}/ could not be read "
            "and were skipped."
        )
    return _assemble(name or root.name, str(root), good, skipped, notes, ids)


def _assemble(name, origin, good, skipped, notes, ids=None) -> Domain:
    """Stack decoded images into a Domain, every name made printable (file names may not be UTF-8)."""
    colour = any(px.shape[2] == 3 for _, (px, _) in good)
    arrays = [np.repeat(px, 3, axis=2) if colour and px.shape[2] == 1 else px for _, (px, _) in good]
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    class_of = [None if e[1] is None else printable(e[1]) for e, _ in good]
    if class_of[0] is None:
        classes, labels = (), None
    else:
        classes = tuple(sorted(set(class_of)))
        index = {c: i for i, c in enumerate(classes)}
        labels = torch.tensor([index[c] for c in class_of], dtype=torch.int64)
    return Domain(
        name=printable(name),
        images=images,
        labels=labels,
        classes=classes,
        files=tuple(printable(e[0]) for e, _ in good),
        origin=printable(origin),
        sizes=np.array([(i.width, i.height) for _, (_, i) in good], dtype=np.int64),
        modes=tuple(i.mode for _, (_, i) in good),
        skipped=skipped,
        notes=tuple(map(printable, notes)),
        ids=ids,
    )


def pair(source: Domain, target: Domain, name: str = "dataset") -> Dataset:
    """Check the source is labelled and decide whether the target's labels can be used."""
    if not source.labelled:
        raise DataError(
            f"The source domain ({source.origin}) must be labelled: "
            "put its images in one folder per class, source/<class>/<image>."
        )
    source = replace(source, name="source")
    if len(source.classes) < 2:
        one_class = "The source has only one class; a classifier needs at least two."
        source = replace(source, notes=source.notes + (one_class,))
    target = replace(target, name="target")
    if target.labelled:
        unknown = [c for c in target.classes if c not in source.classes]
        if len(target.classes) >= 2 and not unknown:
            index = torch.tensor([source.classes.index(c) for c in target.classes])
            target = replace(target, labels=index[target.labels], classes=source.classes)
        else:
            note = ()
            if len(target.classes) >= 2:
                note = (
                    f"Target class folders {', '.join(unknown)} are not source classes "
                    f"({', '.join(source.classes)}), so the target is treated as unlabelled "
                    "(no target accuracy).",
                )
            target = replace(target, labels=None, classes=(), notes=target.notes + note)
    return Dataset(name=name, source=source, target=target)


def open_dataset(
    source: str | os.PathLike,
    target: str | os.PathLike | None = None,
    *,
    size: int = 32,
    name: str | None = None,
) -> Dataset:
    """Open a dataset from two domain folders, or from one two-domain folder when `target` is None.
    It is called `name`, or after its folders."""
    if target is None:
        found = find_pair(source)
        if found is None:
            raise DataError(
                f"{source} is not a two-domain folder: expected train_data/ and test_data/ inside "
                "(the homework's real_or_drawing layout) or source/ and target/; "
                "or give the target folder separately."
            )
        source, target = found
        name = name or found[0].parent.name
    else:
        name = name or f"{Path(source).name} → {Path(target).name}"
    return pair(load_domain(source, size=size), load_domain(target, size=size), name=printable(name))
