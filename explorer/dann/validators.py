"""Judging a run without target labels: scores computed every epoch, higher is better for all.

With unlabelled target data there is no target accuracy to pick a checkpoint (or a lambda) by.
These scores use only the model's predictions on target images (and a held-out part of the
labelled source); `p` is the (N, C) matrix of softmax predictions on a fixed sample of the target:

* ``source_acc``: accuracy on held-out source images. Safe, but blind to the target.
* ``entropy``: minus the mean prediction entropy, ``-mean_i H(p_i)``: confident predictions score
  high, however wrong (Grandvalet & Bengio 2005).
* ``im``: information maximisation, ``H(mean_i p_i) - mean_i H(p_i)``: confident *and* spread over
  the classes; a model that puts everything in one class scores low (Shi & Sha 2012; SHOT).
* ``bnm``: the nuclear norm of ``p`` divided by N, ``||p||_* / N``: high when predictions are both
  confident and diverse (Cui et al., CVPR 2020).
* ``snd``: soft neighbourhood density: for the L2-normalised rows of ``p``, the mean entropy of
  each row's softmax similarity to all the others at temperature 0.05; high when target points sit
  in dense neighbourhoods (Saito et al., ICCV 2021).

`DEFAULT` is the score that picked checkpoints closest to the best one on the benchmark of
domain pairs (bench/adaptation.py, docs/ADAPTATION.md); `JUDGE` the one whose comparison of a DANN
run with its source-only twin agreed most often with target accuracy there.
"""

from __future__ import annotations

import math

import torch

NAMES = ("source_acc", "entropy", "im", "bnm", "snd")
DEFAULT = "im"  # picks a run's checkpoint
JUDGE = "im"  # compares a DANN run with its source-only twin (the negative-transfer warning)
SAMPLE = 2000  # target images scored per epoch (a fixed sample): the homework has 100,000
MEANING = {
    "source_acc": "accuracy on labelled source images kept out of training: safe, but blind to the target",
    "entropy": "how sure the model is of its target predictions (minus their mean entropy), right or wrong",
    "im": "high when the target predictions are confident and spread over all classes (information "
    "maximisation); low when everything lands in one class",
    "bnm": "high when the target predictions are confident and use many classes (the nuclear norm of the "
    "prediction matrix)",
    "snd": "high when each target prediction has close neighbours among the others (soft neighbourhood "
    "density)",
}
# what the pages call each validator: plain words, the field's abbreviation after them in brackets
# (`named`); the raw names (`NAMES`) stay in tooltips, downloads and files
PLAIN = {
    "source_acc": "held-out source accuracy",
    "entropy": "confidence of the target predictions",
    "im": "confidence and balance of the target predictions",
    "bnm": "diversity of the target predictions",
    "snd": "neighbourhood density of the target predictions",
}
SHORT = {"source_acc": None, "entropy": "entropy", "im": "IM", "bnm": "BNM", "snd": "SND"}


def named(name: str) -> str:
    """A validator as the pages name it: ``confidence and balance of the target predictions (IM)``."""
    short = SHORT.get(name)
    return PLAIN.get(name, name) + (f" ({short})" if short else "")


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def evaluate(
    target: torch.Tensor, source: torch.Tensor | None, source_labels: torch.Tensor
) -> dict[str, float]:
    """Every validator, from softmax predictions on the fixed target sample and on the held-out
    source (None when nothing is held out: ``source_acc`` is then left out)."""
    result = scores(target)
    if source is not None:
        result["source_acc"] = (source.argmax(1) == source_labels).float().mean().item()
    return result


def scores(p: torch.Tensor) -> dict[str, float]:
    """The target-only validators for softmax predictions `p` (N, C), N >= 2."""
    p = p.double()
    mean_h = _entropy(p).mean()
    z = torch.nn.functional.normalize(p, dim=1)
    sim = z @ z.T / 0.05
    sim.fill_diagonal_(-math.inf)  # a point is not its own neighbour
    return {
        "entropy": float(-mean_h),
        "im": float(_entropy(p.mean(0)) - mean_h),
        "bnm": float(torch.linalg.matrix_norm(p, ord="nuc") / len(p)),
        "snd": float(_entropy(sim.softmax(1)).mean()),
    }


def selected_epoch(history: list[dict], select: str) -> int | None:
    """The epoch `select` (a validator's name, or ``last``) picks from a run's metrics: the epoch
    with the highest score, the later one on a tie (a saturated held-out accuracy should not keep a
    barely adapted early epoch). None when there are no epochs."""
    scored = [h for h in history if select == "last" or (h.get("validators") or {}).get(select) is not None]
    if not scored:
        return None
    if select == "last":
        return scored[-1]["epoch"]
    return max(scored, key=lambda h: (h["validators"][select], h["epoch"]))["epoch"]


def rank_correlations(history: list[dict]) -> dict[str, float | None]:
    """Each validator's Spearman rank correlation with target accuracy over a run's epochs (needs
    target labels): how well it would have ranked the checkpoints. None where undefined."""
    import pandas as pd  # as in long_table: a worker process that only trains never needs it

    out = {}
    for name in NAMES:
        rows = [
            (h["validators"][name], h["target_acc"])
            for h in history
            if name in (h.get("validators") or {}) and h.get("target_acc") is not None
        ]
        # pandas' Spearman (ranks with ties averaged): importing scipy.stats here held a class's server
        # up for seconds
        rho = pd.DataFrame(rows).corr(method="spearman").iloc[0, 1] if len(rows) >= 3 else float("nan")
        out[name] = None if rho != rho else float(rho)
    return out


def row_at(history: list[dict], epoch: int | None) -> dict:
    """The metrics line of `epoch` ({} when there is none)."""
    return next((h for h in history if h["epoch"] == epoch), {})


def score_at(history: list[dict], select: str, name: str) -> tuple[int, float | None]:
    """The epoch `select` picks and validator `name`'s score there."""
    epoch = selected_epoch(history, select)
    return epoch, (row_at(history, epoch).get("validators") or {}).get(name)


def long_table(history: list[dict]):
    """(epoch, validator, score) rows for charts."""
    import pandas as pd

    rows = [
        {"epoch": h["epoch"], "validator": k, "score": v}
        for h in history
        for k, v in (h.get("validators") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["epoch", "validator", "score"])
