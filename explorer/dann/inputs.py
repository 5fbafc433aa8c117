"""What the networks see: the domains prepared once per run (edges, polarity, grey or colour: a
`Preprocess`, chosen from the data when the config says ``canny="auto"``) and moved to the device
as floats in [0, 1]."""

from __future__ import annotations

import torch

from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.data.preprocess import Preprocess, choose


def resolve(config: TrainConfig, dataset: Dataset) -> Preprocess:
    """The run's preprocessing: chosen from unlabelled statistics for ``auto`` (a run that trains one
    option; measuring several is `explorer.execution.auto`), else as configured."""
    if config.canny == "auto":
        return choose(dataset.source.images, dataset.target.images)
    return Preprocess.from_spec(config.canny)


def of_checkpoint(ckpt: dict) -> Preprocess:
    """The preprocessing a checkpoint was trained with (older checkpoints: from their config)."""
    if ckpt.get("preprocess"):
        return Preprocess.from_dict(ckpt["preprocess"])
    canny = ckpt["config"].get("canny")
    return Preprocess("source", *canny) if isinstance(canny, list | tuple) else Preprocess("none")


def prepare_inputs(dataset: Dataset, preprocess: Preprocess) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 source and target as the networks see them, with the same channel count."""
    return preprocess.apply(dataset.source.images, dataset.target.images)


def target_inputs(images: torch.Tensor, preprocess: Preprocess, in_channels: int) -> torch.Tensor:
    """New target images as a model with `in_channels` inputs was trained on them."""
    x = preprocess.target(images, colour=in_channels == 3)
    return x.repeat(1, 3, 1, 1) if x.shape[1] < in_channels else x


def as_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1] on `device` (channels-last on CUDA)."""
    x = x.to(device).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x
