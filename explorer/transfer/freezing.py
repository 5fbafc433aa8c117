"""Which parameters of a torchvision backbone learn: its stages, its head, and freezing by stage.

A backbone is cut into stages in forward order (ResNet: ``stem`` = conv1 + bn1, ``layer1`` ..
``layer4``; VGG16: ``block1`` .. ``block5``, each ending at a max-pool, then ``classifier``, the
fully connected layers before the last) and a head (ResNet's ``fc``, VGG's last classifier layer),
which is replaced by a new linear layer for the dataset's classes.

``freeze`` names what learns: ``head`` (the head only), ``from:<stage>`` (that stage, every later
one and the head) or ``none`` (nothing is frozen). Everything else keeps ``requires_grad = False``.
"""

from __future__ import annotations

import torch

from explorer.errors import ExplorerError
from explorer.transfer.backbones import is_resnet


def stages(model: torch.nn.Module, backbone: str) -> dict[str, list[torch.nn.Module]]:
    """The backbone's stages in order, as lists of modules (the head excluded)."""
    if is_resnet(backbone):
        return {
            "stem": [model.conv1, model.bn1],
            "layer1": [model.layer1],
            "layer2": [model.layer2],
            "layer3": [model.layer3],
            "layer4": [model.layer4],
        }
    blocks, current, n = {}, [], 1
    for m in model.features:
        current.append(m)
        if isinstance(m, torch.nn.MaxPool2d):
            blocks[f"block{n}"], current, n = current, [], n + 1
    blocks["classifier"] = list(model.classifier)[:-1]
    return blocks


def head(model: torch.nn.Module, backbone: str) -> torch.nn.Linear:
    """The last linear layer: ResNet's ``fc``, VGG's ``classifier[-1]``."""
    return model.fc if is_resnet(backbone) else model.classifier[-1]


def replace_head(model: torch.nn.Module, backbone: str, classes: int) -> torch.nn.Module:
    """`model` with a new, randomly initialised head of `classes` outputs (changed in place, and returned)."""
    old = head(model, backbone)
    new = torch.nn.Linear(old.in_features, classes)
    if is_resnet(backbone):
        model.fc = new
    else:
        model.classifier[-1] = new
    return model


def learning(model: torch.nn.Module, backbone: str, freeze: str) -> set[int]:
    """ids of the parameters that learn under `freeze`: the head always; see the module docstring."""
    names = list(stages(model, backbone))
    if freeze == "none":
        first = 0
    elif freeze == "head":
        first = len(names)
    else:
        stage = freeze.split(":", 1)[1]
        if stage not in names:
            raise ExplorerError(f"{backbone} has no stage {stage!r}; choose one of {', '.join(names)}.")
        first = names.index(stage)
    parts = stages(model, backbone)
    ids = {id(p) for name in names[first:] for m in parts[name] for p in m.parameters()}
    return ids | {id(p) for p in head(model, backbone).parameters()}


def apply_freeze(model: torch.nn.Module, backbone: str, freeze: str) -> None:
    """Set requires_grad to what `learning` says."""
    ids = learning(model, backbone, freeze)
    for p in model.parameters():
        p.requires_grad = id(p) in ids


def parameter_table(model: torch.nn.Module, backbone: str, freeze: str) -> dict[str, int]:
    """Total, trainable and frozen parameter counts for `freeze`, without changing `model`."""
    ids = learning(model, backbone, freeze)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if id(p) in ids)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
