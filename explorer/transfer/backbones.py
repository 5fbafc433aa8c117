"""Pretrained torchvision backbones, resolved honestly.

ImageNet weights come through torchvision's weights API (``ResNet18_Weights.IMAGENET1K_V1``, ...)
and the torch hub cache: the file torchvision would download, ``<torch hub dir>/checkpoints/<name>.pth``
(``$TORCH_HOME/hub/checkpoints``), is used when it is there; otherwise it is downloaded there once,
from the weights' own URL or the same file name under ``$EXPLORER_WEIGHTS_MIRROR``, with its hash
checked (`explorer.transfer.download`). When that cannot happen (offline, downloads turned off, a
failed or refused transfer), `load_backbone` raises `WeightsMissing`, whose message says what failed
and the ways on; the caller can then offer an uploaded state_dict or random initialisation, and
`LoadedModel.weights` always says which of these was really used. Random weights are never called
pretrained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import models

from explorer.errors import ExplorerError
from explorer.transfer import download

WEIGHTS = {
    "resnet18": models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet50": models.ResNet50_Weights.IMAGENET1K_V2,
    "vgg16": models.VGG16_Weights.IMAGENET1K_V1,
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsMissing(ExplorerError):
    """ImageNet weights are not in the hub cache and could not be downloaded; the message says why
    and the ways on; `reason` is only what failed ("server", "session", or the download's failure)."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    weights: str  # what was really loaded, for the user: "imagenet:IMAGENET1K_V1", "random", "file:<name>"


def hub_file(name: str) -> Path:
    """Where torchvision's weights API looks for (and would download) the ImageNet weights."""
    url = WEIGHTS[name].url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def is_resnet(name: str) -> bool:
    """ResNets keep their stages in ``layer1..4`` and their head in ``fc``; VGGs in ``features``
    and ``classifier[-1]``."""
    return name.startswith("resnet")


def _check_name(name: str) -> None:
    if name not in WEIGHTS:
        raise ExplorerError(f"Unknown backbone {name!r}; choose one of {', '.join(WEIGHTS)}.")


def load_state_file(path: str | os.PathLike | bytes) -> dict:
    """A state_dict from a .pth file (or its bytes), read with weights_only=True."""
    import io

    src = io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path
    if not isinstance(src, io.BytesIO) and not Path(src).is_file():
        raise ExplorerError(f"Weights file not found: {src}")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # hostile pickles, text files, truncated files: all "not a state_dict"
        raise ExplorerError(f"Not a PyTorch state_dict (refused to load it: {type(e).__name__}).") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ExplorerError("The file holds no state_dict (a mapping of parameter names to tensors).")
    return state


def ensure_imagenet(name: str, progress=None, allow_download: bool | None = None) -> Path:
    """The hub-cache file of `name`'s ImageNet weights, downloaded first when it is not there.
    `progress(bytes, total)` follows the download; `allow_download=False` forbids it for this
    caller (a session's switch), and ``EXPLORER_ALLOW_DOWNLOADS=0`` for the whole server."""
    _check_name(name)
    w, path = WEIGHTS[name], hub_file(name)
    if path.is_file():
        return path
    put = (
        f"put {path.name} (from {w.url}) into {path.parent}, "
        f"or give a {name} state_dict (upload it, or --weights PATH)"
    )
    random = "Random weights stay available, labelled as not pretrained."
    if not download.allowed():
        raise WeightsMissing(
            f"The ImageNet weights for {name} are not on this machine, and downloads are turned off on "
            f"this server (EXPLORER_ALLOW_DOWNLOADS=0). Two ways on: {put}. {random}",
            "server",
        )
    if allow_download is False:
        raise WeightsMissing(
            f"The ImageNet weights for {name} are not on this machine, and downloads are turned off for "
            f"this session. Three ways on: allow downloads (in the sidebar), {put}. {random}",
            "session",
        )
    url = download.source_url(w.url)
    try:
        return download.fetch(url, path, progress)
    except download.DownloadFailed as e:
        msg = (
            f"Downloading the ImageNet weights for {name} failed: {e}. Three ways on: Retry, {put}. {random}"
        )
        raise WeightsMissing(msg, str(e).rstrip(".")) from None


def load_backbone(
    name: str,
    weights: str = "imagenet",
    state: dict | None = None,
    progress=None,
    allow_download: bool | None = None,
) -> LoadedModel:
    """`weights`: ``imagenet`` (hub cache, downloaded there once), ``random``, or ``file`` with `state`
    (an uploaded state_dict), or a path to a .pth file."""
    _check_name(name)
    builder = getattr(models, name)
    if weights == "random":
        return LoadedModel(name, builder(weights=None).eval(), "random (not pretrained)")
    if weights == "imagenet":
        path = ensure_imagenet(name, progress, allow_download)
        model = builder(weights=None)
        _restore(model, load_state_file(path), name, path.name)
        return LoadedModel(name, model.eval(), f"imagenet:{WEIGHTS[name].name} ({path.name})")
    label = "uploaded file"
    if state is None:
        label = Path(weights).name
        state = load_state_file(weights)
    model = builder(weights=None)
    _restore(model, state, name, label)
    return LoadedModel(name, model.eval(), f"file:{label}")


HEAD_PREFIX = {"resnet18": "fc.", "resnet50": "fc.", "vgg16": "classifier.6."}


def _restore(model: torch.nn.Module, state: dict, name: str, label: str) -> None:
    """Load `state`; a head of another size (a model fine-tuned here for other classes) is left out."""
    own = model.state_dict()
    head_keys = {k for k in own if k.startswith(HEAD_PREFIX[name])}
    if any(k in state and state[k].shape != own[k].shape for k in head_keys):
        state = {k: v for k, v in state.items() if k not in head_keys}
    try:
        result = model.load_state_dict(state, strict=False)
        if result.unexpected_keys or set(result.missing_keys) - head_keys:
            raise RuntimeError(
                f"Error(s) in loading state_dict:\n  missing {len(result.missing_keys)}, "
                f"unexpected {len(result.unexpected_keys)} keys"
            )
    except Exception as e:  # shapes, names, dtypes: any mismatch means "not this architecture"
        missing = len([k for k in model.state_dict() if k not in state])
        lines = str(e).splitlines()
        detail = lines[1].strip()[:160] if len(lines) > 1 else "mismatch"
        raise ExplorerError(
            f"{label} is not a {name} state_dict: {missing} of its parameters are missing or shaped "
            f"differently ({detail})."
        ) from None
