"""DANN training: one plain loop that yields the events of `explorer.dann.events`.

``Trainer(config, dataset, run_dir).events(stop)`` trains into `run_dir` and nowhere else (files:
`runfolder.py`), resuming this run's ``last.pt`` there and refusing another run's. Where folders
live and who may write them is the caller's business (app: `explorer.store.cache`; CLI: ``--out``).

An epoch is steps of `step.py` (the DANN step at weight lambda, 0 for source-only: D still
learns, showing how separable the domains are, but F never hears from it; then, when asked for,
self-training on an EMA teacher's pseudo-labels). Its parts are public for whoever drives several
trainers at once (`explorer.execution.stacked`): `next_stage`, `plan`, `batch`, `inputs`, `finish`,
`record`, `stopped`, `done`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from explorer.dann.config import TrainConfig
from explorer.dann.events import DoneEvent, EpochEvent, ErrorEvent, Event, StartEvent, StoppedEvent, summary
from explorer.dann.inputs import as_float, prepare_inputs, resolve
from explorer.dann.models import build
from explorer.dann.predict import predict_proba
from explorer.dann.runfolder import RunFolder
from explorer.dann.schedules import LambdaSchedule, learning_rate
from explorer.dann.speed import Shape, choose
from explorer.dann.step import Networks, Optimisers, dann_step, self_train_step
from explorer.dann.teacher import EmaTeacher
from explorer.dann.validators import SAMPLE, evaluate
from explorer.data.augment import random_flip_rotate
from explorer.data.domains import Dataset
from explorer.data.preprocess import Preprocess
from explorer.devices import Sums, describe, pick
from explorer.errors import ExplorerError
from explorer.store import checkpoints

NAN_CHECK_EVERY = 20  # steps; checking every step would sync the GPU every step


@dataclass(frozen=True)
class EpochPlan:
    stage: str  # "dann" or "self-train"
    steps: int
    order: torch.Tensor  # source rows, shuffled
    t_order: torch.Tensor  # target rows, shuffled and cycled to steps * batch size


class Batch(NamedTuple):
    xs: torch.Tensor  # source images, augmented, float on the device
    ys: torch.Tensor  # their labels
    xt: torch.Tensor  # target images, raw uint8 (`Trainer.inputs` makes them floats, augmented or not)
    lamb: float  # the adversarial weight at this step
    lr: float  # the learning rate at this step


class Trainer:
    def __init__(self, config: TrainConfig, dataset: Dataset, run_dir: str | Path, info: dict | None = None):
        """`info`: more keys for config.json (the CLI records where the data came from)."""
        config.check(dataset)
        self.config, self.dataset, self.info = config, dataset, info or {}
        self.device = dev = pick(config.device)
        self.run_id = config.run_id(dataset.fingerprint, dev.type)
        self.dir, self.folder = Path(run_dir), RunFolder(run_dir)
        self.schedule = LambdaSchedule(
            config.lambda_schedule, 0.0 if config.method == "source-only" else config.lamb
        )
        self.total_epochs = config.epochs + config.self_train_epochs

        torch.manual_seed(config.seed)
        self._last = self.folder.last()  # a run keeps the preprocessing it started with
        started = (self._last or {}).get("preprocess")
        self.preprocess = (
            Preprocess.from_dict(started) if started and config.canny == "auto" else resolve(config, dataset)
        )
        xs, xt = prepare_inputs(dataset, self.preprocess)
        split = torch.Generator().manual_seed(config.seed)
        n_train, _ = config.split(len(xs))
        order = torch.randperm(len(xs), generator=split)
        train, held = torch.sort(order[:n_train]).values, torch.sort(order[n_train:]).values
        self.xs, self.ys = xs[train].to(dev), dataset.source.labels[train].to(dev)
        self.xs_val, self.ys_val = xs[held].to(dev), dataset.source.labels[held].to(dev)
        self.xt = xt.to(dev)
        # the validators' target images
        self.t_sample = torch.sort(torch.randperm(len(xt), generator=split)[:SAMPLE]).values
        self.yt = dataset.target.labels.to(dev) if dataset.target.labelled else None
        shape = Shape(xs.shape[1], len(dataset.classes), config.width, config.batch_size, config.image_size)
        self.speed, _ = choose(config.fast, dev, shape)
        self.models = self.speed.place(build(xs.shape[1], len(dataset.classes), config.width).to(dev))
        self.nets = Networks.of(self.models)
        self.teacher: EmaTeacher | None = None
        fc = list(self.models["feature"].parameters()) + list(self.models["label"].parameters())
        d = self.models["domain"].parameters()
        fused = {"fused": True} if self.speed.fused else {}
        if config.optimizer == "adam":
            adam = {"lr": config.lr, **fused}
            self.opts = Optimisers(torch.optim.Adam(fc, **adam), torch.optim.Adam(d, **adam))
        else:
            sgd = {"lr": config.lr, "momentum": 0.9, "weight_decay": 5e-4, **fused}
            self.opts = Optimisers(torch.optim.SGD(fc, **sgd), torch.optim.SGD(d, **sgd))
        self.gen = torch.Generator(device=dev).manual_seed(config.seed)
        self.cpu_gen = torch.Generator().manual_seed(config.seed)
        self.history: list[EpochEvent] = []
        self.elapsed = 0.0
        self.epoch = 0

    # ------------------------------------------------------------------ the loop
    def events(self, stop: threading.Event | None = None) -> Iterator[Event]:
        stop = stop or threading.Event()
        yield self.begin()
        while (stage := self.next_stage()) is not None:
            event = self._epoch(stage, stop)
            if event["kind"] != "epoch":
                yield event
                return
            self.record(event)
            yield event
        yield self.done()

    def begin(self) -> StartEvent:
        """Resume from the folder's ``last.pt``, or start the folder (config.json, the untrained epoch 0)."""
        resumed_from = self._resume()
        if resumed_from == 0:
            info = {
                "run_id": self.run_id,
                "data_fingerprint": self.dataset.fingerprint,
                "dataset": self.dataset.name,
                "classes": list(self.dataset.classes),
                "device_type": self.device.type,
                "preprocess": self.preprocess.to_dict(),
                "speed_path": self.speed.words(),
            }
            self.folder.begin(self.config.to_dict() | info | self.info)
            self.folder.save(0, self.total_epochs, self._payload)
        return StartEvent(
            kind="start",
            run_id=self.run_id,
            dir=str(self.dir),
            device=f"{describe(self.device)} · speed path: {self.speed.words()}",
            epochs=self.config.epochs,
            self_train_epochs=self.config.self_train_epochs,
            resumed_from=resumed_from,
            history=list(self.history),
            preprocess=self.preprocess.to_dict(),
        )

    def record(self, event: EpochEvent) -> None:
        """A finished epoch into the history and the folder."""
        self.history.append(event)
        # first: last.pt's history is what a resume trusts
        self.folder.keep_best(event["validators"], self._payload)
        self.folder.save(self.epoch, self.total_epochs, self._payload)
        self.folder.append(event)

    def done(self) -> DoneEvent:
        return DoneEvent(
            kind="done", **summary(self.history, self.run_id, self.epoch, self.elapsed, self.device.type)
        )

    def next_stage(self) -> str | None:
        """The stage the next epoch trains (``dann`` or ``self-train``); None when the run is over."""
        cfg = self.config
        self_trained = sum(1 for h in self.history if h["stage"] == "self-train")
        budget_spent = bool(cfg.time_budget) and self.elapsed >= cfg.time_budget
        if self.epoch < cfg.epochs and not budget_spent and not self_trained:
            return "dann"
        return "self-train" if self_trained < cfg.self_train_epochs else None

    def dann_step(self, b) -> dict[str, torch.Tensor]:
        """One DANN step of this run on batch `b` (`step.dann_step` with the run's networks and options)."""
        xt = self.inputs(b.xt, augment=True)
        return dann_step(
            self.nets,
            self.opts,
            b.xs,
            b.ys,
            xt,
            b.lamb,
            update=self.config.update,
            mmd_weight=self.config.mmd_weight,
            speed=self.speed,
        )

    def self_train_step(self, b) -> dict[str, torch.Tensor]:
        """One self-training step on batch `b`: the EMA teacher labels the target's plain view."""
        return self_train_step(
            self.models,
            self.teacher,
            self.opts.fc,
            b.xs,
            b.ys,
            self.inputs(b.xt, False),
            self.inputs(b.xt, True),
            threshold=self.config.self_train_threshold,
            speed=self.speed,
        )

    def _epoch(self, stage: str, stop: threading.Event) -> EpochEvent | StoppedEvent | ErrorEvent:
        """One pass over the source (the target cycled to match), in steps of one batch each."""
        dann, plan = stage == "dann", self.plan(stage)
        running, t0, lamb, lr = Sums(), time.perf_counter(), 0.0, 0.0
        for step in range(plan.steps):
            if stop.is_set():
                return self.stopped()
            b = self.batch(plan, step, time.perf_counter() - t0)
            lamb, lr = b.lamb, b.lr
            running.add(**(self.dann_step(b) if dann else self.self_train_step(b)))
            if (step + 1) % NAN_CHECK_EVERY == 0 and not torch.isfinite(running.sums["loss"]):
                break
            if (
                dann
                and self.config.time_budget
                and self.elapsed + time.perf_counter() - t0 >= self.config.time_budget
            ):
                break
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return self.finish(stage, running, time.perf_counter() - t0, lamb, lr)

    def plan(self, stage: str) -> EpochPlan:
        """This epoch's shuffled source order and the target order cycled to its length."""
        steps = len(self.xs) // self.config.batch_size
        order = torch.randperm(len(self.xs), generator=self.cpu_gen).to(self.device)
        t_order = (
            torch.randperm(max(len(self.xt), steps * self.config.batch_size), generator=self.cpu_gen)
            % len(self.xt)
        ).to(self.device)
        if stage == "self-train" and self.teacher is None:
            self.teacher = EmaTeacher(self.models, self.config.ema_decay)
        return EpochPlan(stage, steps, order, t_order)

    def batch(self, plan: EpochPlan, step: int, running: float = 0.0) -> Batch:
        """Step `step`'s batch (`running`: seconds into this epoch, for a time budget's schedules)."""
        cfg, bs = self.config, self.config.batch_size
        p = self._progress(self.epoch if plan.stage == "dann" else cfg.epochs, step, plan.steps, running)
        lamb, lr = self.schedule(p), self._set_lr(p)
        i, j = plan.order[step * bs : (step + 1) * bs], plan.t_order[step * bs : (step + 1) * bs]
        return Batch(self.inputs(self.xs[i], augment=True), self.ys[i], self.xt[j], lamb, lr)

    def stopped(self) -> StoppedEvent:
        message = (
            f"Stopped by request during epoch {self.epoch + 1}; the checkpoint of epoch {self.epoch} is kept."
        )
        return StoppedEvent(kind="stopped", epoch=self.epoch, message=message)

    def finish(
        self, stage: str, running: Sums, seconds: float, lamb: float, lr: float
    ) -> EpochEvent | ErrorEvent:
        """The epoch's event from its summed step numbers (an error when they are not finite)."""
        dann, bs = stage == "dann", self.config.batch_size
        s, seen, n = running.totals(), running.steps * bs, running.steps
        if not all(math.isfinite(v) for v in s.values()):
            message = (
                f"Training diverged in epoch {self.epoch + 1}: the loss became "
                f"{'nan' if math.isnan(s['loss']) else 'inf'} with lambda = {lamb:.3g} and lr = {lr:.3g}. "
                f"Lower the learning rate or lambda. The last good checkpoint (epoch {self.epoch}) is kept."
            )
            return ErrorEvent(kind="error", epoch=self.epoch + 1, message=message)
        self.elapsed += seconds
        self.epoch += 1
        return EpochEvent(
            **{
                "kind": "epoch",
                "stage": stage,
                "epoch": self.epoch,
                "lambda": lamb if dann else 0.0,
                "lr": lr,
                "class_loss": s["class_loss"] / n,
                "domain_loss": s["domain_loss"] / n if dann else None,
                "source_acc": s["source_correct"] / seen,
                "domain_acc": s["domain_correct"] / (2 * seen) if dann else None,
                "pseudo_loss": None if dann else s["pseudo_loss"] / n,
                "pseudo_frac": None if dann else s["confident"] / seen,
                **self._judge(),
                "seconds": seconds,
                "elapsed": self.elapsed,
                "img_per_s": seen / seconds,
                "progress": self._progress(self.epoch, 0, 1) if dann else 1.0,
            }
        )

    # ------------------------------------------------------------------ helpers
    def inputs(self, x: torch.Tensor, augment: bool) -> torch.Tensor:
        """uint8 images -> floats on the device, flipped and rotated when `augment`."""
        x = as_float(x, self.device)
        if augment and self.config.augment != "none":
            # "auto" here (nothing measured) trains as UNMEASURED_AUGMENT, rotation: no flip
            x = random_flip_rotate(x, self.gen, flip=self.config.augment == "flip-rotate")
        return self.speed.layout(x)

    def _progress(self, epoch: int, step: int, steps: int, running: float = 0.0) -> float:
        """p in [0, 1]: epochs done, or with a time budget, seconds spent (`running`: in this epoch)."""
        if self.config.time_budget:
            return min(1.0, (self.elapsed + running) / self.config.time_budget)
        return (epoch + step / steps) / self.config.epochs

    def _set_lr(self, p: float) -> float:
        lr = learning_rate(self.config.optimizer, self.config.lr, p)
        for opt in (self.opts.fc, self.opts.d):
            for g in opt.param_groups:
                g["lr"] = lr
        return lr

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities (teacher if self-trained) for uint8 images prepared like the target."""
        return predict_proba(self.teacher.model if self.teacher else self.models, images, self.device)

    def _judge(self) -> dict:
        """Target accuracy (a labelled target only) and the validators, from one pass over the target."""
        probs = self.predict(self.xt) if self.yt is not None else None
        sample = probs[self.t_sample] if probs is not None else self.predict(self.xt[self.t_sample])
        source = self.predict(self.xs_val) if len(self.xs_val) else None
        return {
            "target_acc": None if probs is None else (probs.argmax(1) == self.yt).float().mean().item(),
            "validators": evaluate(sample, source, self.ys_val),
        }

    # ------------------------------------------------------------------ checkpoints
    def _payload(self, with_optim: bool) -> dict:
        return {
            "epoch": self.epoch,
            "config": self.config.to_dict(),
            "preprocess": self.preprocess.to_dict(),
            "arch": {
                "in_channels": self.xs.shape[1],
                "classes": list(self.dataset.classes),
                "width": self.config.width,
            },
            "data": {"source": self.dataset.source.fingerprint, "target": self.dataset.target.fingerprint},
            "models": self.models.state_dict(),
            "teacher": self.teacher.state_dict() if self.teacher is not None else None,
            "optim": {"fc": self.opts.fc.state_dict(), "d": self.opts.d.state_dict()} if with_optim else None,
            "metrics": self.history,
            "elapsed": self.elapsed,
            "device": self.device.type,
        }

    def _resume(self) -> int:
        """Continue from the folder's ``last.pt`` if it has one; returns the epoch it had reached."""
        ckpt, self._last = self._last, None
        if ckpt is None:
            return 0
        data = {"source": self.dataset.source.fingerprint, "target": self.dataset.target.fingerprint}
        ours = self.config.to_dict() | {"device": self.device.type}
        if ckpt["data"] != data or ckpt["config"] | {"device": ckpt.get("device")} != ours:
            raise ExplorerError(
                f"{self.dir} holds another run (other options or data); train into an empty "
                "folder, or give the same options and data to resume that run."
            )
        checkpoints.restore(self.models, ckpt["models"])
        if ckpt.get("teacher") is not None:
            self.teacher = EmaTeacher(self.models, self.config.ema_decay, ckpt["teacher"])
        if ckpt.get("optim"):
            self.opts.fc.load_state_dict(ckpt["optim"]["fc"])
            self.opts.d.load_state_dict(ckpt["optim"]["d"])
        self.history, self.elapsed, self.epoch = (
            list(ckpt["metrics"]),
            float(ckpt["elapsed"]),
            int(ckpt["epoch"]),
        )
        self.folder.rewrite(self.history)
        # a resumed run continues from a different random stream than an unbroken one
        self.gen.manual_seed(self.config.seed + self.epoch)
        self.cpu_gen.manual_seed(self.config.seed + self.epoch)
        return self.epoch


def train(
    config: TrainConfig, dataset: Dataset, run_dir: str | Path, stop=None
) -> tuple[Trainer, list[Event]]:
    """Run to the end; returns the trainer (models, predictions) and every event."""
    trainer = Trainer(config, dataset, run_dir)
    return trainer, list(trainer.events(stop))
