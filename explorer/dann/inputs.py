"""What the networks see: the domains prepared once per run (Canny on the source, grey when the
channels differ) and moved to the device as floats in [0, 1]."""

from __future__ import annotations

import torch

from explorer.dann.config import TrainConfig
from explorer.data.augment import canny, to_grey
from explorer.data.domains import Dataset


def prepare_inputs(dataset: Dataset, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 source and target with the same channel count: Canny'd source and grey target, or
    both grey when either is grey, or both colour."""
    src, tgt = dataset.source.images, dataset.target.images
    if config.canny is not None:
        return canny(src, *config.canny), to_grey(tgt)
    if src.shape[1] == 1 or tgt.shape[1] == 1:
        return to_grey(src), to_grey(tgt)
    return src, tgt


def target_inputs(images: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Target images as a model with `in_channels` inputs was trained on them (no Canny on the target)."""
    if in_channels == 1:
        return to_grey(images)
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


def as_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1] on `device` (channels-last on CUDA)."""
    x = x.to(device).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x
