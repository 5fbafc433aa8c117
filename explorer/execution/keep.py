"""Where a run is kept and under what rules: the one wrapper every back-end puts around a run.

The CLI trains into a folder of the user's own (``--out``): nothing is wrapped. The app trains into
its shared checkpoint cache (`explorer.store.cache`), where each run is also recorded as the
session's (`owner`) that asked for it, so that session can open it later (also one trained before
by another session), and trains under the cache's rules: the run's lock held from its first event
to its last (a second trainer of the same run is refused, eviction leaves it alone) and the cache's
size cap enforced as it goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from explorer.dann.config import UNMEASURED_AUGMENT, TrainConfig
from explorer.dann.trainer import Trainer
from explorer.data.domains import Dataset
from explorer.data.preprocess import Preprocess
from explorer.store import cache, runs


@dataclass(frozen=True)
class Keep:
    owner: str | None = None  # a session id: the runs are in the app's cache, recorded as this session's
    # more keys for each run's config.json (the CLI: where the data came from)
    info: dict = field(default_factory=dict)

    def own(self, folder: Path) -> None:
        """Record the run in `folder` as the owner's (the app only)."""
        if self.owner:
            runs.add_owner(folder, self.owner)

    def trainer(self, config: TrainConfig, dataset: Dataset, folder: Path) -> Trainer:
        """The run's trainer on its folder, the folder recorded as the owner's first."""
        self.own(folder)
        return Trainer(config, dataset, folder, info=self.info)

    def guarded(
        self,
        folders: Path | list[Path],
        events: Iterator,
        kind: Callable[[object], str] = lambda e: e["kind"],
    ) -> Iterator:
        """`events` of the runs training into `folders`, under the cache's rules when there is an owner."""
        if not self.owner:
            return events
        for folder in [folders] if isinstance(folders, Path) else folders:
            self.own(folder)
        return cache.guarded(folders, events, kind)


class Twin(NamedTuple):
    config: TrainConfig
    folder: Path  # the cache folder it trains (or has trained) into


def source_only_twin(run_config: dict) -> Twin:
    """The source-only twin of a run in the app's cache (``run_config``: its config.json): one run with
    exactly the run's options and lambda = 0, so that only the domain loss differs, and the cache
    folder it trains (or has trained) into. It sees the inputs the run saw: the preprocessing the run
    recorded and the augmentation it trained with, also when measured auto chose them (the twin never
    measures a choice of its own; a lone run of augment auto, not measured, trained with rotation)."""
    config = TrainConfig.from_dict(run_config | {"method": "source-only"})
    if run_config.get("preprocess"):
        config = replace(config, canny=Preprocess.from_dict(run_config["preprocess"]).spec)
    if config.augment == "auto":
        config = replace(config, augment=UNMEASURED_AUGMENT)
    return Twin(
        config, cache.run_dir(config.run_id(run_config["data_fingerprint"], run_config["device_type"]))
    )
