"""Multi-kernel Gaussian maximum mean discrepancy between two feature batches.

``MMD^2(S, T) = E k(s, s') + E k(t, t') - 2 E k(s, t)`` with ``k = sum_i exp(-|x - y|^2 / s_i)``
over bandwidths ``s_i = m * 2^j``, j = -2..2, where m is the batch's mean squared distance (as
in DAN, Long et al. 2015). Zero when the two feature distributions match; a differentiable
"discrepancy" term that can sit beside the adversarial loss.
"""

from __future__ import annotations

import torch


def mmd(
    source: torch.Tensor, target: torch.Tensor, scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
) -> torch.Tensor:
    x = torch.cat([source, target]).float()
    d2 = torch.cdist(x, x).pow(2)
    n = x.shape[0]
    base = d2.detach().sum() / (n * n - n)
    k = sum(torch.exp(-d2 / (base * s + 1e-8)) for s in scales)
    ns = source.shape[0]
    return k[:ns, :ns].mean() + k[ns:, ns:].mean() - 2 * k[:ns, ns:].mean()
