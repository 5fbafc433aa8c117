"""The domain-adversarial objective (Ganin & Lempitsky 2015), one function for both update styles.

A discriminator D reads the features ``f`` of a batch whose first ``n_source`` rows come from the
source and the rest from the target, and is scored with binary cross-entropy against the domain
labels ``d`` (0 source, 1 target)::

    L_d(f) = BCE(D(f), d)

D learns to *minimise* ``L_d``; the feature extractor F learns to *maximise* it (features D cannot
tell apart), weighted by lambda, while it still classifies the source:
``min_F CE(C(f_s), y_s) - lambda * L_d(f)``. Two ways to play that game:

* ``two-step`` (the homework): ``domain_loss(D, f.detach(), n)`` trains D alone; then F and C
  minimise ``CE - lambda * domain_loss(D, f, n).loss`` with D fixed.
* ``grl``: ``domain_loss(D, f, n, reverse=lambda)`` puts a gradient reversal layer (`grl.py`)
  before D, so one backward pass of ``CE + L_d`` trains D to minimise ``L_d`` and F to maximise it.

Both report D's accuracy: near 1 when the domains are easy to tell apart, 0.5 when aligned.
Features may carry leading copy dimensions (``(K, N, D)`` for K stacked runs, D then scoring each
copy with its own weights): the loss and the count are per copy, shape ``(K,)`` (a scalar for one run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from explorer.dann.grl import reverse_gradient


@dataclass(frozen=True)
class DomainLoss:
    loss: torch.Tensor  # BCE of the discriminator, per copy, with its graph
    correct: torch.Tensor  # rows it classified right: a tensor, so reading it costs no GPU sync


def domain_loss(
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    features: torch.Tensor,
    n_source: int,
    reverse: float | torch.Tensor | None = None,
) -> DomainLoss:
    """D's loss and hits on ``features`` (..., N, D) whose first `n_source` rows are the source;
    `reverse`: lambda of a gradient reversal layer in front of D (a number, or one per copy)."""
    rows, device = features.shape[-2], features.device
    d = torch.cat([torch.zeros(n_source, device=device), torch.ones(rows - n_source, device=device)])
    x = features if reverse is None else reverse_gradient(features, reverse)
    logit = discriminator(x).float()
    d = d.expand_as(logit)
    loss = F.binary_cross_entropy_with_logits(logit, d, reduction="none").mean(-1)
    return DomainLoss(loss, ((logit > 0) == (d > 0.5)).sum(-1))
