"""A training run is its config: a frozen dataclass, hashed (with the data's fingerprints) into a run id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from explorer.dann.schedules import SHAPES
from explorer.dann.speed import FAST
from explorer.data.domains import Dataset
from explorer.data.preprocess import Preprocess
from explorer.errors import ExplorerError

METHODS = ("dann", "source-only")
UPDATES = ("two-step", "grl")
OPTIMIZERS = ("adam", "sgd")
# what a run trains with; "auto" (measured, explorer.execution.auto) chooses one
AUGMENTS = ("rotate", "flip-rotate", "none")
# what augment "auto" trains with where nothing was measured (a lone trainer, a tiny target)
UNMEASURED_AUGMENT = "rotate"


@dataclass(frozen=True)
class TrainConfig:
    method: str = "dann"
    update: str = "two-step"  # the homework's two optimiser steps, or one pass through a GRL
    lambda_schedule: str = "constant"
    lamb: float = 0.1
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 40
    time_budget: float | None = None  # seconds; progress p is then elapsed / budget
    width: float = 0.25
    mmd_weight: float = 0.0
    # "auto": measured on the data (explorer.execution.auto); else what is done to the images before
    # training: (low, high) Canny on the source, None nothing, or a `Preprocess.spec` such as "both:150/300"
    canny: str | tuple[int, int] | None = "auto"
    image_size: int = 32
    # "auto": measured with the preprocessing; rotate: up to 15 degrees; flip-rotate adds a horizontal flip
    augment: str = "auto"
    source_val: float = 0.1  # held out of the labelled source, for the source-accuracy validator
    self_train_epochs: int = 0
    self_train_threshold: float = 0.9
    ema_decay: float = 0.99
    seed: int = 0
    device: str = "auto"
    # "auto": the fastest path this machine has for the step (explorer.dann.speed); "off": eager fp32
    fast: str = "auto"

    def __post_init__(self):
        checks = [
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
            (self.update in UPDATES, f"update must be one of {', '.join(UPDATES)}"),
            (self.lambda_schedule in SHAPES, f"lambda schedule must be one of {', '.join(SHAPES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.lamb >= 0, f"lambda must be >= 0 (got {self.lamb})"),
            (self.lr > 0, f"learning rate must be > 0 (got {self.lr})"),
            (self.batch_size >= 2, f"batch size must be at least 2 (got {self.batch_size})"),
            (self.epochs >= 1, f"epochs must be at least 1 (got {self.epochs})"),
            (
                self.time_budget is None or 0 < self.time_budget < 1e7,
                "time budget must be a positive number of seconds",
            ),
            (0 <= self.seed < 2**63, f"seed must be in 0 .. 2**63 - 1 (got {self.seed})"),
            (0 < self.width <= 4, f"width must be in (0, 4] (got {self.width})"),
            (self.mmd_weight >= 0, f"MMD weight must be >= 0 (got {self.mmd_weight})"),
            (self.self_train_epochs >= 0, "self-training epochs must be >= 0"),
            (0 < self.self_train_threshold < 1, "self-training threshold must be in (0, 1)"),
            (0 <= self.ema_decay < 1, "EMA decay must be in [0, 1)"),
            (8 <= self.image_size <= 512, f"image size must be 8 to 512 (got {self.image_size})"),
        ]
        checks += [
            (self.fast in FAST, f"fast must be one of {', '.join(FAST)}"),
            (self.augment in (*AUGMENTS, "auto"), f"augment must be auto or one of {', '.join(AUGMENTS)}"),
            (
                0 <= self.source_val < 0.5,
                f"source validation fraction must be in [0, 0.5) (got {self.source_val})",
            ),
        ]
        if isinstance(self.canny, str):
            checks.append(
                (
                    self.canny == "auto" or _spec_ok(self.canny),
                    f"canny must be auto, two thresholds or off (got {self.canny!r})",
                )
            )
        elif self.canny is not None:
            low, high = self.canny
            checks.append((0 <= low < high, f"Canny thresholds need 0 <= low < high (got {low}, {high})"))
        for ok, message in checks:
            if not ok:
                raise ExplorerError(f"Bad training option: {message}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["canny"] = list(self.canny) if isinstance(self.canny, tuple) else self.canny
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if isinstance(d.get("canny"), list):
            d["canny"] = tuple(d["canny"])
        if isinstance(d.get("augment"), bool):  # configs written before augment had names
            d["augment"] = "flip-rotate" if d["augment"] else "none"
        return cls(**d)

    def check(self, dataset: Dataset) -> None:
        """Refuse, with a sentence, data this config cannot train on."""
        src, tgt = dataset.source, dataset.target
        size = src.images.shape[-1]
        if size != self.image_size or tgt.images.shape[-1] != self.image_size:
            raise ExplorerError(
                f"The dataset is loaded at {size}x{size} px but the run asks for {self.image_size}; "
                "load the data at the run's image size."
            )
        if len(dataset.classes) < 2:
            raise ExplorerError("Training needs at least two source classes.")
        n_train, held = self.split(len(src))
        if self.batch_size > min(n_train, len(tgt)):
            raise ExplorerError(
                f"Batch size {self.batch_size} is larger than the data ({n_train} source images to train "
                f"on after holding out {held} for validation, {len(tgt)} target images); "
                "choose a smaller batch size."
            )

    @property
    def measured(self) -> bool:
        """Whether the data decides: preprocessing or augmentation left to auto."""
        return self.canny == "auto" or self.augment == "auto"

    def split(self, n_source: int) -> tuple[int, int]:
        """How many source images train and how many are held out for validation."""
        held = int(n_source * self.source_val)
        return n_source - held, held

    def run_id(self, data_fingerprint: str, device_type: str) -> str:
        """Identity of a run: config (the requested device replaced by the one used) + data."""
        d = self.to_dict() | {"device": device_type, "data": data_fingerprint}
        return hashlib.blake2b(json.dumps(d, sort_keys=True).encode(), digest_size=8).hexdigest()


def _spec_ok(spec: str) -> bool:
    try:
        Preprocess.from_spec(spec)
    except ValueError:
        return False
    return True
