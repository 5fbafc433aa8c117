"""The self-training teacher: an exponential moving average (EMA) of the student.

After every student step, ``teacher <- decay * teacher + (1 - decay) * student`` for the weights,
and the BatchNorm statistics are copied. The teacher labels the un-augmented target; predictions
whose confidence reaches the threshold become pseudo-labels for the student (Mean Teacher,
Tarvainen & Valpola 2017; FixMatch-style thresholding).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from explorer.store import checkpoints


class EmaTeacher:
    def __init__(self, student: nn.ModuleDict, decay: float, state: dict | None = None):
        self.model, self.decay = copy.deepcopy(student), decay
        if state is not None:
            checkpoints.restore(self.model, state)

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        for t, s in zip(self.model.parameters(), student.parameters()):
            t.lerp_(s, 1 - self.decay)
        for t, s in zip(self.model.buffers(), student.buffers()):
            t.copy_(s)

    @torch.no_grad()
    def pseudo_labels(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's classes for `x` and a 0/1 mask of those at least `threshold` confident."""
        self.model.eval()
        conf, labels = self.model["label"](self.model["feature"](x)).float().softmax(1).max(1)
        return labels, (conf >= threshold).float()

    def state_dict(self) -> dict:
        return self.model.state_dict()
