"""K training runs as one batched model: what a sweep does on a GPU that one small run leaves idle.

The K runs' networks are stacked parameter by parameter (``torch.func.stack_module_state``: every
weight gains a leading dimension K) and run with ``vmap(functional_call(...))``, which turns each
convolution into one grouped convolution (groups = K) and each BatchNorm into one over K x C
channels: one BatchNorm per copy, each with its own running statistics. A step is::

    f_k = F_k([xs_k; xt_k])                          every copy its own batch, augmentation and seed
    D step:   sum_k BCE(D_k(f_k.detach()), d)        (two-step update)
    F, C step: sum_k CE(C_k(f_k^s), y_k) - lambda_k * BCE(D_k(f_k), d)

Each copy's loss depends only on its own weights, so the gradient of the sum is each copy's own
gradient, and Adam (and SGD with momentum and weight decay) being element-wise, one optimiser
over the stacked weights takes exactly the K separate steps. The GRL update reverses each copy's
gradient by its own lambda: ``f_rev = f.detach() - lambda (f - f.detach())`` is exactly f going
forward and ``-lambda`` going back.

Everything else (data order, augmentation, the lambda and lr schedules, judging, checkpoints,
events) is each run's own `Trainer`; after every epoch the stacked weights and optimiser state are
copied back into the K trainers, so their folders hold the same files a lone run writes.

Runs stack when they differ only in `STACKABLE` fields and see inputs with the same channels;
self-training and time budgets run alone. One known difference from K lone runs: a two-step copy
whose lambda is 0 in a stack where another's is not passes its features through its discriminator
a second time, which moves that discriminator's BatchNorm running statistics (never used in
training) a little further.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from explorer.dann.config import TrainConfig
from explorer.dann.events import Event
from explorer.dann.mmd import mmd
from explorer.dann.trainer import NAN_CHECK_EVERY, Trainer
from explorer.devices import Sums, autocast

STACKABLE = ("method", "lamb", "lambda_schedule", "seed", "canny")


def stack_key(config: TrainConfig, in_channels: int) -> tuple:
    """Runs with equal keys can train as one stacked model."""
    d = config.to_dict()
    return (in_channels, *(str(v) for k, v in sorted(d.items()) if k not in STACKABLE))


def stackable(config: TrainConfig) -> bool:
    return config.self_train_epochs == 0 and not config.time_budget


class StackedTrainer:
    """Trains `trainers` (new runs, equal `stack_key`) together; yields ``(index, event)``."""

    def __init__(self, trainers: list[Trainer]):
        keys = {stack_key(t.config, t.xs.shape[1]) for t in trainers}
        if len(keys) != 1 or not all(stackable(t.config) for t in trainers):
            raise ValueError("These runs cannot share a batch (different shapes, optimisers or stages).")
        self.trainers, self.device = trainers, trainers[0].device
        self.config = trainers[0].config
        self.base = copy.deepcopy(trainers[0].models).to("meta")
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}

    def _stack(self) -> None:
        """The K trainers' weights and optimiser states as stacked tensors, and one optimiser per part."""
        self.params, self.buffers = stack_module_state([t.models for t in self.trainers])
        fc = [p for n, p in self.params.items() if not n.startswith("domain.")]
        d = [p for n, p in self.params.items() if n.startswith("domain.")]
        first = self.trainers[0]
        self.opt_fc, self.opt_d = (type(o)(ps, **o.defaults) for o, ps in ((first.opt_fc, fc), (first.opt_d, d)))

    def _net(self, part: str, x: torch.Tensor) -> torch.Tensor:
        """One of the three networks (feature, label, domain) of every copy: x is (K, N, ...)."""
        cut = len(part) + 1
        p = {n[cut:]: v for n, v in self.params.items() if n.startswith(part + ".")}
        b = {n[cut:]: v for n, v in self.buffers.items() if n.startswith(part + ".")}
        return vmap(lambda p, b, x: functional_call(self.base[part], (p, b), (x,)))(p, b, x)

    def step(self, xs, ys, xt, lamb: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step of every copy: inputs (K, B, ...), lambda (K,). Per-copy numbers (K,)."""
        k, n, two_step = len(xs), xs.shape[1], self.config.update == "two-step"
        d = torch.cat([torch.zeros(n, device=xs.device), torch.ones(xt.shape[1], device=xs.device)]).expand(k, -1)

        def domain_loss(f):
            logit = self._net("domain", f).float()
            return F.binary_cross_entropy_with_logits(logit, d, reduction="none").mean(1), ((logit > 0) == (d > 0.5)).sum(1)

        with autocast(self.device):
            f = self._net("feature", torch.cat([xs, xt], 1))
            lam = lamb.view(k, 1, 1).to(f.dtype)
            if two_step:
                disc_loss, disc_correct = domain_loss(f.detach())
                self.opt_d.zero_grad(set_to_none=True)
                disc_loss.sum().backward()
                self.opt_d.step()
            c_logit = self._net("label", f[:, :n]).float()
            class_loss = F.cross_entropy(c_logit.flatten(0, 1), ys.flatten(), reduction="none").view(k, n).mean(1)
            if two_step:
                loss = class_loss - lamb * domain_loss(f)[0] if bool((lamb > 0).any()) else class_loss
            else:
                disc_loss, disc_correct = domain_loss(f.detach() - lam * (f - f.detach()))
                loss = class_loss + disc_loss
                self.opt_d.zero_grad(set_to_none=True)
            if self.config.mmd_weight > 0:
                loss = loss + self.config.mmd_weight * vmap(mmd)(f[:, :n], f[:, n:])
        self.opt_fc.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_fc.step()
        if not two_step:
            self.opt_d.step()
        return {"class_loss": class_loss.detach(), "domain_loss": disc_loss.detach(), "loss": loss.detach(),
                "source_correct": (c_logit.argmax(2) == ys).sum(1), "domain_correct": disc_correct}  # fmt: skip

    @torch.no_grad()
    def _unstack(self) -> None:
        """Copy each copy's weights and optimiser state back into its own trainer."""
        for k, t in enumerate(self.trainers):
            for name, p in t.models.named_parameters():
                p.copy_(self.params[name][k])
            for name, b in t.models.named_buffers():
                b.copy_(self.buffers[name][k])
            for mine, stacked in ((t.opt_fc, self.opt_fc), (t.opt_d, self.opt_d)):
                state = stacked.state_dict()
                state["state"] = {i: {n: v[k].clone() if v.dim() else v.clone() for n, v in s.items()} for i, s in state["state"].items()}
                mine.load_state_dict(state)

    def events(self, stop: threading.Event | None = None) -> Iterator[tuple[int, Event]]:
        stop = stop or threading.Event()
        for k, t in enumerate(self.trainers):
            start = t.begin()
            if start["resumed_from"]:
                raise ValueError("A stacked run must start from scratch; resume it alone.")
            yield k, start
        self._stack()
        live = list(range(len(self.trainers)))
        while live and self.trainers[live[0]]._next_stage() is not None:
            plans = [t.plan("dann") for t in self.trainers]
            sums, t0, picks = [Sums() for _ in self.trainers], time.perf_counter(), []
            for step in range(plans[0].steps):
                if stop.is_set():
                    for k in live:
                        yield k, self.trainers[k].stopped()
                    return
                picks = [t.batch(plan, step) for t, plan in zip(self.trainers, plans)]
                for opt in (self.opt_fc, self.opt_d):  # the lr schedule (SGD anneals): the same for every copy
                    for group in opt.param_groups:
                        group["lr"] = picks[0][4]
                xs, ys, xt = (torch.stack(part) for part in list(zip(*picks))[:3])
                xt = torch.stack([t._float(x, augment=True) for t, x in zip(self.trainers, xt)])
                out = self.step(xs, ys, xt, torch.tensor([p[3] for p in picks], device=self.device))
                for k, s in enumerate(sums):
                    s.add(**{name: v[k] for name, v in out.items()})
                if (step + 1) % NAN_CHECK_EVERY == 0 and not any(torch.isfinite(sums[k].sums["loss"]) for k in live):
                    break  # every copy diverged; one that did alone finishes the epoch with the others and is dropped then
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
            self._unstack()
            for k in list(live):
                t = self.trainers[k]
                event = t.finish("dann", sums[k], seconds, picks[k][3], picks[k][4])
                if event["kind"] == "epoch":
                    t.record(event)
                else:  # this copy diverged: it stops here; the others go on (its NaNs stay in its own weights)
                    live.remove(k)
                yield k, event
        for k in live:
            yield k, self.trainers[k].done()
