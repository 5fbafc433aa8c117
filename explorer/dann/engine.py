"""DANN training as a stream of metric events: one engine for the CLI, the app and the tests.

``Trainer(config, dataset).events(stop)`` yields plain dicts:

* ``{"kind": "start", "run_id", "device", "epochs", "resumed_from", ...}``
* ``{"kind": "epoch", "stage": "dann" | "self-train", "epoch", "lambda", "lr", "class_loss",
  "domain_loss", "source_acc", "domain_acc", "target_acc" (None when unlabelled), "seconds",
  "img_per_s", "progress", ...}`` once per epoch;
* and one last event: ``"done"``, ``"stopped"`` (a stop request, honoured within one step) or
  ``"error"`` (the loss became NaN or inf: the message names lambda and lr).

One DANN step on a source batch ``(xs, ys)`` and a target batch ``xt``, features ``f = F([xs; xt])``
(one BatchNorm pass over both domains, as in the homework), domain labels ``d`` (0 source, 1 target):

* ``two-step`` (the homework): first D alone on detached features,
  ``min_D BCE(D(f.detach()), d)``; then F and C on ``CE(C(f_s), ys) - lambda * BCE(D(f), d)``.
* ``grl``: one backward pass of ``CE(C(f_s), ys) + BCE(D(GRL_lambda(f)), d)``.
* ``source-only`` is the same pipeline with lambda = 0: D still learns (so its accuracy shows how
  separable the domains are), F never hears from it.
* ``mmd_weight > 0`` adds ``mmd_weight * MMD^2(f_s, f_t)`` to F's objective.

Self-training (after DANN, ``self_train_epochs``): a teacher that is an exponential moving average
of the student labels the un-augmented target; predictions above ``self_train_threshold`` become
pseudo-labels for the augmented target, trained beside the source loss.

Checkpoints go to ``$EXPLORER_HOME/runs/<run id>/``: ``last.pt`` after every epoch (with the
optimiser state, for resuming), ``epoch_NNNN.pt`` at marked epochs (0, 1, 2, 5, 10, 20, 50, ...
and the last) for the Feature Space page, ``config.json`` and ``metrics.jsonl``.
"""
from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from explorer.store import cache, checkpoints
from explorer.data.augment import canny, random_flip_rotate, to_grey
from explorer.dann.config import TrainConfig
from explorer.devices import describe, pick
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.dann.grl import reverse_gradient
from explorer.store.home import subdir
from explorer.dann.mmd import mmd
from explorer.dann.models import build
from explorer.dann.schedules import LambdaSchedule, learning_rate

EVAL_BATCH = 1024
NAN_CHECK_EVERY = 20  # steps; checking every step would sync the GPU every step
ENFORCE_EVERY = 30.0  # seconds between checks of the checkpoint cache's cap (and at a run's first and last epoch)


def marked(epoch: int) -> bool:
    """Epochs whose checkpoints are kept: 0, 1, 2, 5, 10, 20, 50, 100, ..."""
    if epoch == 0:
        return True
    mag = 10 ** int(math.log10(epoch))
    return epoch in (mag, 2 * mag, 5 * mag)


def prepare_inputs(dataset: Dataset, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 source and target with the same channel count: Canny'd source and grey target, or
    both grey when either is grey, or both colour."""
    src, tgt = dataset.source.images, dataset.target.images
    if config.canny is not None:
        return canny(src, *config.canny), to_grey(tgt)
    if src.shape[1] == 1 or tgt.shape[1] == 1:
        return to_grey(src), to_grey(tgt)
    return src, tgt


def as_float(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1] on `device` (channels-last on CUDA)."""
    x = x.to(device).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


@torch.no_grad()
def predict_proba(models: torch.nn.ModuleDict, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Softmax class probabilities, in eval mode, in batches; `models` is left in the mode it was in."""
    was = models.training
    models.eval()
    out = []
    for i in range(0, len(images), EVAL_BATCH):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            x = as_float(images[i : i + EVAL_BATCH], device)
            out.append(models["label"](models["feature"](x)).float().softmax(1))
    models.train(was)
    return torch.cat(out)


def target_inputs(images: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Target images as a model with `in_channels` inputs was trained on them (no Canny on the target)."""
    if in_channels == 1:
        return to_grey(images)
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


def load_for_prediction(path, device: torch.device) -> tuple[torch.nn.ModuleDict, dict]:
    """The models of a checkpoint (the EMA teacher when it was self-trained), ready for `predict_proba`."""
    ckpt = checkpoints.load(path)
    arch = ckpt["arch"]
    models = build(arch["in_channels"], len(arch["classes"]), arch["width"])
    checkpoints.restore(models, ckpt["teacher"] if ckpt.get("teacher") is not None else ckpt["models"])
    return models.to(device), ckpt


def checkpoint_submission(models: torch.nn.ModuleDict, ckpt: dict, domain, device: torch.device) -> str:
    """The ``id,label`` CSV of a loaded checkpoint's predictions for a target domain."""
    from explorer.store.runs import submission_csv

    probs = predict_proba(models, target_inputs(domain.images, ckpt["arch"]["in_channels"]), device)
    return submission_csv(domain.ids, probs.argmax(1).cpu(), ckpt["arch"]["classes"])


class Trainer:
    def __init__(self, config: TrainConfig, dataset: Dataset, runs_root: str | Path | None = None):
        self.config, self.dataset = config, dataset
        self.device = pick(config.device)
        src, tgt = dataset.source, dataset.target
        size = src.images.shape[-1]
        if size != config.image_size or tgt.images.shape[-1] != config.image_size:
            raise ExplorerError(
                f"The dataset is loaded at {size}x{size} px but the run asks for {config.image_size}; "
                "load the data at the run's image size."
            )
        if len(dataset.classes) < 2:
            raise ExplorerError("Training needs at least two source classes.")
        if config.batch_size > min(len(src), len(tgt)):
            raise ExplorerError(
                f"Batch size {config.batch_size} is larger than the data ({len(src)} source, {len(tgt)} target "
                "images); choose a smaller batch size."
            )
        self.run_id = config.run_id(dataset.fingerprint, self.device.type)
        self.dir = Path(runs_root or subdir("runs")) / self.run_id
        self.schedule = LambdaSchedule(config.lambda_schedule, 0.0 if config.method == "source-only" else config.lamb)
        self.total_epochs = config.epochs + config.self_train_epochs

        torch.manual_seed(config.seed)
        xs, xt = prepare_inputs(dataset, config)
        dev = self.device
        self.xs, self.xt = xs.to(dev), xt.to(dev)
        self.ys = src.labels.to(dev)
        self.yt = tgt.labels.to(dev) if tgt.labelled else None
        self.models = build(xs.shape[1], len(dataset.classes), config.width).to(dev)
        if dev.type == "cuda":
            self.models = self.models.to(memory_format=torch.channels_last)
        self.teacher: torch.nn.ModuleDict | None = None
        fc = list(self.models["feature"].parameters()) + list(self.models["label"].parameters())
        d = self.models["domain"].parameters()
        if config.optimizer == "adam":
            self.opt_fc, self.opt_d = torch.optim.Adam(fc, lr=config.lr), torch.optim.Adam(d, lr=config.lr)
        else:
            self.opt_fc = torch.optim.SGD(fc, lr=config.lr, momentum=0.9, weight_decay=5e-4)
            self.opt_d = torch.optim.SGD(d, lr=config.lr, momentum=0.9, weight_decay=5e-4)
        self.gen = torch.Generator(device=dev).manual_seed(config.seed)
        self.cpu_gen = torch.Generator().manual_seed(config.seed)
        self.history: list[dict] = []
        self.elapsed = 0.0
        self.epoch = 0
        self._enforced = 0.0  # when the cache cap was last checked (explorer.store.cache)

    # ----------------------------------------------------------------- helpers
    def _float(self, x: torch.Tensor, augment: bool) -> torch.Tensor:
        x = as_float(x, self.device)
        return random_flip_rotate(x, self.gen) if augment and self.config.augment else x

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities (teacher if self-trained) for uint8 images prepared like the target."""
        return predict_proba(self.teacher or self.models, images, self.device)

    def target_accuracy(self) -> float | None:
        if self.yt is None:
            return None
        return (self.predict(self.xt).argmax(1) == self.yt).float().mean().item()

    def _progress(self, epoch: int, step: int, steps: int, running: float = 0.0) -> float:
        """p in [0, 1]: epochs done, or with a time budget, training seconds spent (`running`: in this epoch)."""
        if self.config.time_budget:
            return min(1.0, (self.elapsed + running) / self.config.time_budget)
        return (epoch + step / steps) / self.config.epochs

    def _set_lr(self, p: float) -> float:
        lr = learning_rate(self.config.optimizer, self.config.lr, p)
        for opt in (self.opt_fc, self.opt_d):
            for g in opt.param_groups:
                g["lr"] = lr
        return lr

    # ----------------------------------------------------------- checkpoints
    def _payload(self, with_optim: bool) -> dict:
        return {
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "arch": {"in_channels": self.xs.shape[1], "classes": list(self.dataset.classes), "width": self.config.width},
            "data": {"source": self.dataset.source.fingerprint, "target": self.dataset.target.fingerprint},
            "models": self.models.state_dict(),
            "teacher": self.teacher.state_dict() if self.teacher is not None else None,
            "optim": {"fc": self.opt_fc.state_dict(), "d": self.opt_d.state_dict()} if with_optim else None,
            "metrics": self.history,
            "elapsed": self.elapsed,
            "device": self.device.type,
        }

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        checkpoints.save(self.dir / "last.pt", self._payload(with_optim=True))
        if marked(self.epoch) or self.epoch == self.total_epochs:
            checkpoints.save(self.dir / f"epoch_{self.epoch:04d}.pt", self._payload(with_optim=False))
        if time.monotonic() - self._enforced > ENFORCE_EVERY or self.epoch in (0, self.total_epochs):
            cache.enforce()  # this run is held (locked), so only older runs make room
            self._enforced = time.monotonic()

    def _resume(self) -> int:
        """Load ``last.pt`` of this run id if there is one; returns the epoch it had reached."""
        path = self.dir / "last.pt"
        if not path.is_file():
            return 0
        ckpt = checkpoints.load(path)
        checkpoints.restore(self.models, ckpt["models"])
        if ckpt.get("teacher") is not None:
            self.teacher = copy.deepcopy(self.models)
            checkpoints.restore(self.teacher, ckpt["teacher"])
        if ckpt.get("optim"):
            self.opt_fc.load_state_dict(ckpt["optim"]["fc"])
            self.opt_d.load_state_dict(ckpt["optim"]["d"])
        self.history, self.elapsed, self.epoch = list(ckpt["metrics"]), float(ckpt["elapsed"]), int(ckpt["epoch"])
        # the checkpoint is the truth: a crash between saving it and appending the metrics line loses nothing
        (self.dir / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in self.history))
        # A resumed run continues from a different random stream than an unbroken one.
        self.gen.manual_seed(self.config.seed + self.epoch)
        self.cpu_gen.manual_seed(self.config.seed + self.epoch)
        return self.epoch

    # ------------------------------------------------------------------ steps
    def _dann_step(self, xs, ys, xt, lamb: float) -> tuple[torch.Tensor, ...]:
        m, cfg = self.models, self.config
        bs = xs.shape[0]
        d = torch.cat([torch.zeros(bs, device=xs.device), torch.ones(xt.shape[0], device=xs.device)])
        with self._autocast():
            f = m["feature"](torch.cat([xs, xt]))
            if cfg.update == "two-step":
                d_logit = m["domain"](f.detach()).float()
                d_loss = F.binary_cross_entropy_with_logits(d_logit, d)
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                self.opt_d.step()
                c_logit = m["label"](f[:bs]).float()
                c_loss = F.cross_entropy(c_logit, ys)
                loss = c_loss
                if lamb > 0:
                    loss = loss - lamb * F.binary_cross_entropy_with_logits(m["domain"](f).float(), d)
            else:
                c_logit = m["label"](f[:bs]).float()
                c_loss = F.cross_entropy(c_logit, ys)
                d_logit = m["domain"](reverse_gradient(f, lamb)).float()
                d_loss = F.binary_cross_entropy_with_logits(d_logit, d)
                loss = c_loss + d_loss
                self.opt_d.zero_grad(set_to_none=True)
            if cfg.mmd_weight > 0:
                loss = loss + cfg.mmd_weight * mmd(f[:bs], f[bs:])
        self.opt_fc.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_fc.step()
        if cfg.update == "grl":
            self.opt_d.step()
        return c_loss.detach(), d_loss.detach(), (c_logit.argmax(1) == ys).sum(), ((d_logit > 0) == (d > 0.5)).sum(), loss.detach()

    def _self_train_step(self, xs, ys, xt_weak, xt_strong) -> tuple[torch.Tensor, ...]:
        m, t = self.models, self.teacher
        bs = xs.shape[0]
        with torch.no_grad(), self._autocast():
            t.eval()
            conf, pseudo = t["label"](t["feature"](xt_weak)).float().softmax(1).max(1)
        mask = (conf >= self.config.self_train_threshold).float()
        with self._autocast():
            logits = m["label"](m["feature"](torch.cat([xs, xt_strong]))).float()
            c_loss = F.cross_entropy(logits[:bs], ys)
            p_loss = (F.cross_entropy(logits[bs:], pseudo, reduction="none") * mask).mean()
            loss = c_loss + p_loss
        self.opt_fc.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_fc.step()
        with torch.no_grad():
            decay = self.config.ema_decay
            for tp, sp in zip(t.parameters(), m.parameters()):
                tp.lerp_(sp, 1 - decay)
            for tb, sb in zip(t.buffers(), m.buffers()):
                tb.copy_(sb)
        return c_loss.detach(), p_loss.detach(), (logits[:bs].argmax(1) == ys).sum(), mask.sum(), loss.detach()

    # ----------------------------------------------------------------- epochs
    def events(self, stop: threading.Event | None = None) -> Iterator[dict]:
        with cache.training_lock(self.dir):
            yield from self._events(stop)

    def _events(self, stop: threading.Event | None) -> Iterator[dict]:
        cfg = self.config
        stop = stop or threading.Event()
        start_epoch = self._resume()
        yield {
            "kind": "start",
            "run_id": self.run_id,
            "dir": str(self.dir),
            "device": describe(self.device),
            "epochs": cfg.epochs,
            "self_train_epochs": cfg.self_train_epochs,
            "resumed_from": start_epoch,
            "history": list(self.history),
        }
        if start_epoch == 0:
            self.dir.mkdir(parents=True, exist_ok=True)
            info = {"run_id": self.run_id, "data_fingerprint": self.dataset.fingerprint, "dataset": self.dataset.name,
                    "classes": list(self.dataset.classes), "device_type": self.device.type}
            (self.dir / "config.json").write_text(json.dumps(cfg.to_dict() | info, indent=2))
            (self.dir / "metrics.jsonl").write_text("")
            self._save()  # epoch 0: the untrained features, for the Feature Space page
        budget_spent = bool(cfg.time_budget) and self.elapsed >= cfg.time_budget
        dann_done = self.epoch >= cfg.epochs or budget_spent or any(h["stage"] == "self-train" for h in self.history)
        while not dann_done or self._self_train_left():
            stage = "dann" if not dann_done else "self-train"
            event = yield from self._epoch(stage, stop)
            if event["kind"] != "epoch":
                yield event
                return
            if stage == "dann":
                dann_done = self.epoch >= cfg.epochs or event["progress"] >= 1.0
        yield {"kind": "done", **self.summary()}

    def _self_train_left(self) -> bool:
        done = sum(1 for h in self.history if h["stage"] == "self-train")
        return done < self.config.self_train_epochs

    def _epoch(self, stage: str, stop: threading.Event):
        cfg, n_src, n_tgt = self.config, len(self.xs), len(self.xt)
        bs = cfg.batch_size
        steps = n_src // bs
        order = torch.randperm(n_src, generator=self.cpu_gen).to(self.device)
        t_order = torch.randperm(max(n_tgt, steps * bs), generator=self.cpu_gen) % n_tgt
        t_order = t_order.to(self.device)
        if stage == "self-train" and self.teacher is None:
            self.teacher = copy.deepcopy(self.models)
        dev = self.device
        sums = torch.zeros(5, device=dev)  # class loss, domain/pseudo loss, source correct, domain correct/confident, loss
        t0 = time.perf_counter()
        lamb = lr = 0.0
        done_steps = 0
        for step in range(steps):
            if stop.is_set():
                return {"kind": "stopped", "epoch": self.epoch, "message": self._stop_message()}
            p = self._progress(self.epoch if stage == "dann" else cfg.epochs, step, steps, time.perf_counter() - t0)
            lamb, lr = self.schedule(p), self._set_lr(p)
            i = order[step * bs : (step + 1) * bs]
            j = t_order[step * bs : (step + 1) * bs]
            xs, ys = self._float(self.xs[i], True), self.ys[i]
            if stage == "dann":
                out = self._dann_step(xs, ys, self._float(self.xt[j], True), lamb)
            else:
                raw = self.xt[j]
                out = self._self_train_step(xs, ys, self._float(raw, False), self._float(raw, True))
            sums += torch.stack([o.float() for o in out])
            done_steps += 1
            if (step + 1) % NAN_CHECK_EVERY == 0 and not torch.isfinite(sums[4]):
                break
            if stage == "dann" and cfg.time_budget and self.elapsed + time.perf_counter() - t0 >= cfg.time_budget:
                break
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        s = sums.tolist()
        if not all(math.isfinite(v) for v in s):
            return {
                "kind": "error",
                "epoch": self.epoch + 1,
                "message": (
                    f"Training diverged in epoch {self.epoch + 1}: the loss became {'nan' if math.isnan(s[4]) else 'inf'} "
                    f"with lambda = {lamb:.3g} and lr = {lr:.3g}. Lower the learning rate or lambda. "
                    f"The last good checkpoint (epoch {self.epoch}) is kept."
                ),
            }
        self.elapsed += seconds
        self.epoch += 1
        seen = done_steps * bs
        event = {
            "kind": "epoch",
            "stage": stage,
            "epoch": self.epoch,
            "lambda": lamb if stage == "dann" else 0.0,
            "lr": lr,
            "class_loss": s[0] / done_steps,
            "domain_loss": s[1] / done_steps if stage == "dann" else None,
            "source_acc": s[2] / seen,
            "domain_acc": s[3] / (2 * seen) if stage == "dann" else None,
            "pseudo_loss": s[1] / done_steps if stage == "self-train" else None,
            "pseudo_frac": s[3] / seen if stage == "self-train" else None,
            "target_acc": self.target_accuracy(),
            "seconds": seconds,
            "elapsed": self.elapsed,
            "img_per_s": seen / seconds,
            "progress": self._progress(self.epoch, 0, 1) if stage == "dann" else 1.0,
        }
        self.history.append(event)
        self._save()
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(event) + "\n")
        yield event
        return event

    def _stop_message(self) -> str:
        return f"Stopped by request during epoch {self.epoch + 1}; the checkpoint of epoch {self.epoch} is kept."

    def summary(self) -> dict:
        last = self.history[-1] if self.history else {}
        imgs = sum(h["img_per_s"] * h["seconds"] for h in self.history)
        return {
            "run_id": self.run_id,
            "epochs": self.epoch,
            "target_acc": self.target_accuracy(),
            "source_acc": last.get("source_acc"),
            "domain_acc": next((h["domain_acc"] for h in reversed(self.history) if h["domain_acc"] is not None), None),
            "seconds": self.elapsed,
            "img_per_s": imgs / self.elapsed if self.elapsed else None,
            "device": self.device.type,
        }


def train(config: TrainConfig, dataset: Dataset, stop: threading.Event | None = None, runs_root=None) -> tuple[Trainer, list[dict]]:
    """Run to the end; returns the trainer (models, predictions) and every event."""
    trainer = Trainer(config, dataset, runs_root)
    return trainer, list(trainer.events(stop))
