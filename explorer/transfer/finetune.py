"""Transfer by fine-tuning: a torchvision backbone, a new head, frozen or not.

Freezing choices (`FinetuneConfig.freeze`; which parameters they leave learning is
`explorer.transfer.freezing`):

* ``head``: only the new head (ResNet's ``fc``, VGG's last classifier layer) learns. The frozen
  backbone's features do not change, so they are computed once (eval mode, no augmentation) and the
  head trains on the cached features: every epoch after the first is a few matrix products.
* ``from:<stage>``: the stages from `<stage>` on, and the head, learn; earlier ones stay frozen
  (ResNet stages: stem, layer1 .. layer4; VGG16: block1 .. block5, classifier).
* ``none``: everything learns; the backbone at ``lr * backbone_lr_scale``.

Data: the labelled source domain of a dataset, split into train / validation with a fixed seed
(stratified), optionally capped to `per_class` training images per class to show transfer with
few labels. Inputs are scaled to [0, 1], normalised with ImageNet's mean and std, and flipped
left-right at random (batched, on the device) when the backbone itself learns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from explorer.data.domains import Domain
from explorer.devices import describe, map_batches, pick
from explorer.errors import ExplorerError
from explorer.transfer.backbones import IMAGENET_MEAN, IMAGENET_STD, is_resnet, load_backbone
from explorer.transfer.events import FinetuneDone, FinetuneEpoch, FinetuneStarted, FinetuneStopped
from explorer.transfer.freezing import apply_freeze, head, parameter_table, replace_head

EVAL_BATCH = 256


@dataclass(frozen=True)
class FinetuneConfig:
    backbone: str = "resnet18"
    weights: str = "imagenet"  # imagenet | random | file
    freeze: str = "head"  # head | from:<stage> | none
    epochs: int = 5
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1
    batch_size: int = 64
    per_class: int | None = None
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    # head-only: train on features computed once (False: run the backbone every epoch)
    cache_features: bool = True

    def __post_init__(self):
        if not (self.epochs >= 1 and self.lr > 0 and self.batch_size >= 2 and 0 < self.val_fraction < 1):
            raise ExplorerError(
                "Bad fine-tuning option: epochs >= 1, lr > 0, batch size >= 2 and 0 < validation share < 1."
            )
        if self.per_class is not None and self.per_class < 1:
            raise ExplorerError("Images per class must be at least 1.")
        if not (self.freeze in ("head", "none") or self.freeze.startswith("from:")):
            raise ExplorerError(f"Freeze must be head, none or from:<stage> (got {self.freeze!r}).")


def split(
    domain: Domain, val_fraction: float, per_class: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified train / validation indices with a fixed seed; the training side capped per class."""
    if not domain.labelled or len(domain.classes) < 2:
        raise ExplorerError("Fine-tuning needs a labelled dataset with at least two classes.")
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for k in range(len(domain.classes)):
        idx = torch.nonzero(domain.labels == k).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val.append(idx[:n_val])
        train.append(idx[n_val:][:per_class] if per_class else idx[n_val:])
    return torch.cat(train), torch.cat(val)


class FineTuner:
    def __init__(self, config: FinetuneConfig, domain: Domain, state: dict | None = None):
        self.config, self.domain = config, domain
        self.device = pick(config.device)
        self.train_idx, self.val_idx = split(domain, config.val_fraction, config.per_class, config.seed)
        if len(self.train_idx) < config.batch_size:
            raise ExplorerError(
                f"Only {len(self.train_idx)} training images for a batch size of {config.batch_size}; "
                "lower the batch size or add images."
            )
        if config.backbone == "vgg16" and domain.images.shape[-1] < 32:
            raise ExplorerError(
                f"vgg16 halves its input five times and needs images of at least 32 px; "
                f"these are {domain.images.shape[-1]} px. Load the data at 32 px or more."
            )
        torch.manual_seed(config.seed)
        loaded = load_backbone(config.backbone, config.weights, state)
        self.weights = loaded.weights
        self.model = replace_head(loaded.model, config.backbone, len(domain.classes)).to(self.device)
        apply_freeze(self.model, config.backbone, config.freeze)
        self.params = parameter_table(self.model, config.backbone, config.freeze)
        head_params = list(head(self.model, config.backbone).parameters())
        body = [
            p for p in self.model.parameters() if p.requires_grad and all(p is not h for h in head_params)
        ]
        groups = [{"params": head_params, "lr": config.lr}]
        if body:
            groups.append(
                {
                    "params": body,
                    "lr": config.lr * (config.backbone_lr_scale if config.freeze == "none" else 1.0),
                }
            )
        self.opt = torch.optim.Adam(groups)
        self.gen = torch.Generator().manual_seed(config.seed)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self.cached: tuple[torch.Tensor, torch.Tensor] | None = None

    def inputs(self, idx: torch.Tensor, augment: bool) -> torch.Tensor:
        x = self.domain.images[idx].to(self.device).float() / 255
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if augment:
            flip = torch.rand(len(x), generator=self.gen) < 0.5
            x = torch.where(flip.to(self.device).view(-1, 1, 1, 1), x.flip(-1), x)
        return (x - self.mean) / self.std

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the head: the features the head sees."""
        m = self.model
        if is_resnet(self.config.backbone):
            x = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
            return torch.flatten(m.avgpool(x), 1)
        x = torch.flatten(m.avgpool(m.features(x)), 1)
        return m.classifier[:-1](x)

    def features(self, idx: torch.Tensor, stop: threading.Event | None = None) -> torch.Tensor | None:
        """The frozen body's features of `idx`; None when `stop` was set on the way."""
        self.model.eval()
        return map_batches(lambda j: self.body(self.inputs(j, False)), idx, EVAL_BATCH, stop)

    def accuracy(self, idx: torch.Tensor) -> float:
        if len(idx) == 0:
            return 0.0
        self.model.eval()
        predicted = map_batches(lambda j: self.model(self.inputs(j, False)).argmax(1).cpu(), idx, EVAL_BATCH)
        return (predicted == self.domain.labels[idx]).sum().item() / len(idx)

    def loss(self, positions: torch.Tensor, fc: torch.nn.Linear) -> torch.Tensor:
        """Cross-entropy of one batch (positions in `train_idx`): from cached features when only the
        head learns."""
        if self.cached is not None:
            p = positions.to(self.device)
            return F.cross_entropy(fc(self.cached[0][p]), self.cached[1][p])
        idx = self.train_idx[positions]
        augment = self.config.freeze != "head"
        return F.cross_entropy(self.model(self.inputs(idx, augment)), self.domain.labels[idx].to(self.device))

    def events(
        self, stop: threading.Event | None = None
    ) -> Iterator[FinetuneStarted | FinetuneEpoch | FinetuneDone | FinetuneStopped]:
        """Train for `config.epochs` epochs: `FinetuneStarted`, one `FinetuneEpoch` per epoch (mean
        training loss, validation accuracy, seconds and images per second, validation not counted),
        then `FinetuneDone` with `summary`; `FinetuneStopped` instead, within one batch, once `stop`
        is set (`explorer.transfer.events`)."""
        cfg = self.config
        stop = stop or threading.Event()
        yield self._start_event()
        fc = head(self.model, cfg.backbone)
        history = []
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            if not self._cache_features(stop):
                yield FinetuneStopped("Stopped while computing the frozen features.")
                return
            losses = self._epoch(fc, stop)
            if losses is None:
                yield FinetuneStopped(f"Stopped during epoch {epoch}.")
                return
            event = self._epoch_event(epoch, losses, time.perf_counter() - t0, history)
            history.append(event)
            yield event
        yield self.summary(history)

    def _start_event(self) -> FinetuneStarted:
        return FinetuneStarted(
            device=describe(self.device),
            weights=self.weights,
            epochs=self.config.epochs,
            params=self.params,
            n_train=len(self.train_idx),
            n_val=len(self.val_idx),
        )

    def _cache_features(self, stop: threading.Event) -> bool:
        """When only the head learns (and `cache_features`), the frozen body's features of the
        training images, computed once on the first call; False when `stop` was set on the way."""
        cfg = self.config
        if cfg.freeze == "head" and cfg.cache_features and self.cached is None:
            feats = self.features(self.train_idx, stop)
            if feats is None:
                return False
            self.cached = (feats, self.domain.labels[self.train_idx].to(self.device))
        return True

    def _train_mode(self) -> None:
        """Training mode, except frozen BatchNorm layers: they keep their ImageNet statistics too."""
        self.model.train()
        for m in self.model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in m.parameters()
            ):
                m.eval()

    def _epoch(self, fc: torch.nn.Linear, stop: threading.Event) -> list[float] | None:
        """One pass over the training images in a new random order, full batches only; the batches'
        losses, or None when `stop` was set (checked before every batch)."""
        # positions in train_idx (and the cache)
        order = torch.randperm(len(self.train_idx), generator=self.gen)
        batch = self.config.batch_size
        losses = []
        self._train_mode()
        for s in range(0, len(order) - batch + 1, batch):
            if stop.is_set():
                return None
            loss = self.loss(order[s : s + batch], fc)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            losses.append(loss.item())
        return losses

    def _epoch_event(
        self, epoch: int, losses: list[float], seconds: float, history: list[FinetuneEpoch]
    ) -> FinetuneEpoch:
        """The epoch's event: `seconds` is its training time; the validation accuracy is measured
        here, after it."""
        return FinetuneEpoch(
            epoch=epoch,
            train_loss=sum(losses) / len(losses),
            val_acc=self.accuracy(self.val_idx),
            seconds=seconds,
            elapsed=sum(h.seconds for h in history) + seconds,
            img_per_s=len(losses) * self.config.batch_size / seconds,
        )

    def summary(self, history: list[FinetuneEpoch]) -> FinetuneDone:
        later = [h.seconds for h in history[1:]]
        return FinetuneDone(
            val_acc=history[-1].val_acc,
            seconds_per_epoch={
                "first": history[0].seconds,
                "later": sum(later) / len(later) if later else None,
            },
            trainable_params=self.params["trainable"],
            total_params=self.params["total"],
            weights=self.weights,
            epochs=len(history),
            config=asdict(self.config),
        )
