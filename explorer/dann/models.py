"""The homework's three networks, with a width multiplier and 1 or 3 input channels.

* `FeatureExtractor`: 5 x (conv3x3 - BatchNorm - ReLU - maxpool 2), channels 64-128-256-256-512
  times `width`; a 32x32 input ends 1x1, so the feature is ``512 * width`` numbers. Other input
  sizes are averaged down to 1x1 at the end (identity at 32); pooling rounds up, so inputs from
  16 px work (and 28 px gives 14, 7, 4, 2, 1).
* `LabelPredictor`: Linear-ReLU-Linear-ReLU-Linear, 512-512-classes (times `width`).
* `DomainClassifier`: 4 x (Linear-BatchNorm-ReLU), then one logit: "is this feature from the target?".

``width = 1`` is the homework's network (2.1 M parameters in the extractor); 0.25 is about a
sixteenth of the compute, enough for the embedded 32x32 digits on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = (64, 128, 256, 256, 512)


def scaled(n: int, width: float) -> int:
    return max(4, int(round(n * width)))


class FeatureExtractor(nn.Module):
    def __init__(self, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        layers, c_in = [], in_channels
        for c in CHANNELS:
            c_out = scaled(c, width)
            layers += [
                nn.Conv2d(c_in, c_out, 3, 1, 1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x)).flatten(1)


class LabelPredictor(nn.Module):
    def __init__(self, in_features: int, classes: int, width: float = 1.0):
        super().__init__()
        h = scaled(512, width)
        self.layer = nn.Sequential(
            nn.Linear(in_features, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, classes)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer(h)


class DomainClassifier(nn.Module):
    def __init__(self, in_features: int, width: float = 1.0):
        super().__init__()
        h, layers, d = scaled(512, width), [], in_features
        for _ in range(4):
            layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU()]
            d = h
        self.layer = nn.Sequential(*layers, nn.Linear(h, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.layer(h).squeeze(1)


def build(in_channels: int, classes: int, width: float) -> nn.ModuleDict:
    """The three networks as one ModuleDict: ``feature``, ``label``, ``domain``."""
    f = FeatureExtractor(in_channels, width)
    return nn.ModuleDict(
        {
            "feature": f,
            "label": LabelPredictor(f.out_features, classes, width),
            "domain": DomainClassifier(f.out_features, width),
        }
    )
