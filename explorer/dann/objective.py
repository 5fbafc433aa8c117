"""The domain-adversarial objective (Ganin & Lempitsky 2015), one module for both update styles.

A discriminator D reads the features ``f`` of a batch whose first ``n_source`` rows come from the
source and the rest from the target, and is scored with binary cross-entropy against the domain
labels ``d`` (0 source, 1 target)::

    L_d(f) = BCE(D(f), d)

D learns to *minimise* ``L_d``; the feature extractor F learns to *maximise* it (features D cannot
tell apart), weighted by lambda, while it still classifies the source:
``min_F CE(C(f_s), y_s) - lambda * L_d(f)``. Two ways to play that game:

* ``two-step`` (the homework): ``loss = objective(f.detach(), n)`` trains D alone; then F and C
  minimise ``CE - lambda * objective(f, n).loss`` with D fixed.
* ``grl``: ``objective(f, n, reverse=lambda)`` puts a gradient reversal layer (`grl.py`) before D,
  so one backward pass of ``CE + L_d`` trains D to minimise ``L_d`` and F to maximise it.

Both report D's accuracy: near 1 when the domains are easy to tell apart, 0.5 when aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.dann.grl import reverse_gradient


@dataclass(frozen=True)
class DomainLoss:
    loss: torch.Tensor  # BCE of the discriminator, a scalar with its graph
    correct: torch.Tensor  # rows it classified right: a tensor, so reading it costs no GPU sync


class DomainAdversarial(nn.Module):
    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, features: torch.Tensor, n_source: int, reverse: float | None = None) -> DomainLoss:
        d = torch.cat([torch.zeros(n_source, device=features.device), torch.ones(len(features) - n_source, device=features.device)])
        x = features if reverse is None else reverse_gradient(features, reverse)
        logit = self.discriminator(x).float()
        return DomainLoss(F.binary_cross_entropy_with_logits(logit, d), ((logit > 0) == (d > 0.5)).sum())
