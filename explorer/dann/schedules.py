"""Lambda and learning-rate schedules over training progress ``p`` in [0, 1].

Lambda (the weight of the adversarial term), ``lambda(p) = lamb * shape(p)``:

* ``constant``: ``shape(p) = 1``.
* ``dann``: ``shape(p) = 2 / (1 + exp(-10 p)) - 1`` (Ganin et al. 2016): 0 at the start, when the
  features are noise and the domain signal would only hurt, rising to ~1.
* ``log``: ``shape(p) = log(1.02 + 1.7 p)`` (the homework's adaptive lambda): 0.02 -> 1.0.

Learning rate: Adam keeps ``lr0``; SGD anneals ``lr(p) = lr0 / (1 + 10 p) ** 0.75`` (the DANN paper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHAPES = {
    "constant": lambda p: 1.0,
    "dann": lambda p: 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0,
    "log": lambda p: math.log(1.02 + 1.7 * p),
}


@dataclass(frozen=True)
class LambdaSchedule:
    kind: str = "dann"
    lamb: float = 1.0

    def __post_init__(self):
        if self.kind not in SHAPES:
            raise ValueError(f"Unknown lambda schedule {self.kind!r}; choose one of {', '.join(SHAPES)}.")

    def __call__(self, p: float) -> float:
        return self.lamb * SHAPES[self.kind](min(max(p, 0.0), 1.0))

    def curve(self, points: int = 101) -> list[tuple[float, float]]:
        """(p, lambda) pairs, for plotting."""
        return [(i / (points - 1), self(i / (points - 1))) for i in range(points)]


def learning_rate(optimizer: str, lr0: float, p: float) -> float:
    if optimizer == "sgd":
        return lr0 / (1.0 + 10.0 * min(max(p, 0.0), 1.0)) ** 0.75
    return lr0
