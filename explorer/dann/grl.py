"""Gradient reversal (Ganin & Lempitsky 2015).

Forward: the identity, ``GRL(x) = x``. Backward: the gradient is flipped and scaled,
``dGRL/dx = -lambda * I``. Put between the feature extractor F and the domain classifier D, one
backward pass of ``L_class + L_domain`` then trains D to *minimise* the domain loss while F
receives ``-lambda * dL_domain/dF``, i.e. F learns to *maximise* it: features that D cannot tell
apart. This is the single-pass form of the homework's two optimiser steps.

``lambda`` is a number, or a tensor of one lambda per stacked copy (shape ``(K,)``) for features of
shape ``(K, ...)``: each copy's gradient is reversed by its own lambda.
"""

from __future__ import annotations

import torch


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lamb: float | torch.Tensor) -> torch.Tensor:
        ctx.lamb = lamb
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.lamb * grad, None


def reverse_gradient(x: torch.Tensor, lamb: float | torch.Tensor) -> torch.Tensor:
    if isinstance(lamb, torch.Tensor):  # one lambda per copy along x's first dimension
        lamb = lamb.detach().to(x.dtype).view(-1, *[1] * (x.dim() - 1))
    else:
        lamb = float(lamb)
    return _Reverse.apply(x, lamb)
