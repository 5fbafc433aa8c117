"""One training step, the same code for one run and for K runs stacked as one batched model.

A DANN step (`dann_step`)::

    f = F([xs; xt])                       one BatchNorm pass over both domains, as in the homework
    two-step:  D learns on BCE(D(f.detach()), d);  then F, C minimise CE(C(f_s), y_s) - lambda * BCE(D(f), d)
    grl:       F, C, D together minimise CE(C(f_s), y_s) + BCE(D(GRL_lambda(f)), d)
    (+ mmd_weight * MMD^2(f_s, f_t) when asked for)

`Networks` says how to call the three networks. For one run they are the modules themselves and
every tensor is one batch (``xs``: N images; ``lamb``: a number). For K stacked runs
(`explorer.execution.stacked`) they are the K copies under ``vmap``: every tensor gains a leading
dimension K (``xs``: (K, N, C, H, W); ``lamb``: shape (K,)), and every number the step returns is
per copy, shape (K,). Each copy's loss depends only on its own weights, so one backward pass of
the sum gives each copy its own gradient, and one element-wise optimiser (Adam, SGD with momentum)
over the stacked weights takes the K separate steps.

The self-training step (`self_train_step`) adds the target's confident pseudo-labels from an EMA
teacher (`teacher.py`); it runs for one run only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from explorer.dann.mmd import mmd
from explorer.dann.objective import domain_loss
from explorer.dann.speed import SpeedPath
from explorer.dann.teacher import EmaTeacher

Net = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Networks:
    feature: Net  # images (..., N, C, H, W) -> features (..., N, D)
    label: Net  # features -> class logits (..., N, classes)
    domain: Net  # features -> one "is it the target?" logit per row (..., N)
    # how a function of one copy's tensors maps over all copies
    per_copy: Callable[[Callable], Callable] = lambda fn: fn

    @classmethod
    def of(cls, models: nn.ModuleDict) -> Networks:
        """One run's networks, called as they are."""
        return cls(models["feature"], models["label"], models["domain"])


@dataclass(frozen=True)
class Optimisers:
    fc: torch.optim.Optimizer  # the feature extractor and the label predictor
    d: torch.optim.Optimizer  # the domain classifier


def dann_step(
    nets: Networks,
    opts: Optimisers,
    xs,
    ys,
    xt,
    lamb: float | torch.Tensor,
    *,
    update: str,
    mmd_weight: float,
    speed: SpeedPath,
) -> dict[str, torch.Tensor]:
    """One step on a source batch (images `xs`, labels `ys`) and a target batch `xt` at weight `lamb`,
    in the precision of the `speed` path; the step's numbers as tensors (summing them costs no GPU sync)."""
    n, two_step = xs.shape[-4], update == "two-step"
    with speed.autocast():
        f = nets.feature(torch.cat([xs, xt], -4))
        if two_step:  # D learns on its own, F held fixed
            disc = domain_loss(nets.domain, f.detach(), n)
            opts.d.zero_grad(set_to_none=True)
            disc.loss.sum().backward()
            opts.d.step()
        c_logit = nets.label(f[..., :n, :]).float()
        class_loss = (
            F.cross_entropy(c_logit.flatten(0, -2), ys.flatten(), reduction="none").view(ys.shape).mean(-1)
        )
        if two_step:  # then F fools the updated D (a copy whose lambda is 0 gets no gradient from it)
            adversarial = bool((lamb > 0).any()) if isinstance(lamb, torch.Tensor) else lamb > 0
            loss = (
                class_loss - _per_copy(lamb, class_loss) * domain_loss(nets.domain, f, n).loss
                if adversarial
                else class_loss
            )
        else:  # one pass: the GRL turns D's gradient around on its way into F
            disc = domain_loss(nets.domain, f, n, reverse=lamb)
            loss = class_loss + disc.loss
            opts.d.zero_grad(set_to_none=True)
        if mmd_weight > 0:
            loss = loss + mmd_weight * nets.per_copy(mmd)(f[..., :n, :], f[..., n:, :])
    opts.fc.zero_grad(set_to_none=True)
    loss.sum().backward()
    opts.fc.step()
    if not two_step:
        opts.d.step()
    return {
        "class_loss": class_loss.detach(),
        "domain_loss": disc.loss.detach(),
        "loss": loss.detach(),
        "source_correct": (c_logit.argmax(-1) == ys).sum(-1),
        "domain_correct": disc.correct,
    }


def _per_copy(lamb: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    return lamb.to(like.device, like.dtype) if isinstance(lamb, torch.Tensor) else lamb


def self_train_step(
    models: nn.ModuleDict,
    teacher: EmaTeacher,
    opt_fc: torch.optim.Optimizer,
    xs,
    ys,
    xt_weak,
    xt_strong,
    *,
    threshold: float,
    speed: SpeedPath,
) -> dict[str, torch.Tensor]:
    """Source cross-entropy plus the masked cross-entropy of the teacher's confident pseudo-labels
    (read on weakly, learned on strongly augmented target images); then the teacher follows."""
    n = len(xs)
    with speed.autocast():
        pseudo, mask = teacher.pseudo_labels(xt_weak, threshold)
        logits = models["label"](models["feature"](torch.cat([xs, xt_strong]))).float()
        class_loss = F.cross_entropy(logits[:n], ys)
        pseudo_loss = (F.cross_entropy(logits[n:], pseudo, reduction="none") * mask).mean()
        loss = class_loss + pseudo_loss
    opt_fc.zero_grad(set_to_none=True)
    loss.backward()
    opt_fc.step()
    teacher.update(models)
    return {
        "class_loss": class_loss.detach(),
        "pseudo_loss": pseudo_loss.detach(),
        "loss": loss.detach(),
        "source_correct": (logits[:n].argmax(1) == ys).sum(),
        "confident": mask.sum(),
    }
