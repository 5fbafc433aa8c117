"""K training runs as one batched model: what a sweep does on a GPU that one small run leaves idle.

The K runs' networks are stacked parameter by parameter (``torch.func.stack_module_state``: every
weight gains a leading dimension K) and run with ``vmap(functional_call(...))``, which turns each
convolution into one grouped convolution (groups = K) and each BatchNorm into one over K x C
channels: one BatchNorm per copy, each with its own running statistics. The step is the DANN step
of a lone run (`explorer.dann.step.dann_step`) with every tensor K copies deep and one lambda per
copy; each copy's loss depends only on its own weights, so one optimiser over the stacked weights
takes exactly the K separate steps.

Everything else (data order, augmentation, the lambda and lr schedules, judging, checkpoints,
events) is each run's own `Trainer`; after every epoch the stacked weights and optimiser state are
copied back into the K trainers, so their folders hold the same files a lone run writes.

Runs stack when they differ only in `STACKABLE` fields and see inputs with the same channels;
self-training, time budgets and runs to resume train alone, one after another. One known
difference from K lone runs: a two-step copy whose lambda is 0 in a stack where another's is not
passes its features through its discriminator a second time, which moves that discriminator's
BatchNorm running statistics (never used in training) a little further.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator

import torch
from torch.func import functional_call, stack_module_state, vmap

from explorer.dann.config import TrainConfig
from explorer.dann.events import FINAL, Event
from explorer.dann.step import Networks, Optimisers, dann_step
from explorer.dann.trainer import NAN_CHECK_EVERY, Trainer
from explorer.data.domains import Dataset
from explorer.devices import Sums, pick
from explorer.errors import ExplorerError, failure
from explorer.execution.backends import InProcess, Request
from explorer.execution.events import Failed, Retrying, RunEvent, typed
from explorer.execution.keep import Keep

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
        self.nets = Networks(
            *(lambda x, part=part: self._net(part, x) for part in ("feature", "label", "domain")),
            per_copy=vmap,
        )

    def _stack(self) -> None:
        """The K trainers' weights and optimiser states as stacked tensors, and one optimiser per part."""
        self.params, self.buffers = stack_module_state([t.models for t in self.trainers])
        fc = [p for n, p in self.params.items() if not n.startswith("domain.")]
        d = [p for n, p in self.params.items() if n.startswith("domain.")]
        first = self.trainers[0].opts
        self.opts = Optimisers(type(first.fc)(fc, **first.fc.defaults), type(first.d)(d, **first.d.defaults))

    def _net(self, part: str, x: torch.Tensor) -> torch.Tensor:
        """One of the three networks (feature, label, domain) of every copy: x is (K, N, ...)."""
        cut = len(part) + 1
        p = {n[cut:]: v for n, v in self.params.items() if n.startswith(part + ".")}
        b = {n[cut:]: v for n, v in self.buffers.items() if n.startswith(part + ".")}
        return vmap(lambda p, b, x: functional_call(self.base[part], (p, b), (x,)))(p, b, x)

    def step(self, xs, ys, xt, lamb: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step of every copy: inputs (K, B, ...), lambda (K,). Per-copy numbers (K,)."""
        return dann_step(
            self.nets,
            self.opts,
            xs,
            ys,
            xt,
            lamb,
            update=self.config.update,
            mmd_weight=self.config.mmd_weight,
            speed=self.trainers[0].speed,
        )

    @torch.no_grad()
    def _unstack(self) -> None:
        """Copy each copy's weights and optimiser state back into its own trainer."""
        for k, t in enumerate(self.trainers):
            for name, p in t.models.named_parameters():
                p.copy_(self.params[name][k])
            for name, b in t.models.named_buffers():
                b.copy_(self.buffers[name][k])
            for mine, stacked in ((t.opts.fc, self.opts.fc), (t.opts.d, self.opts.d)):
                state = stacked.state_dict()
                state["state"] = {
                    i: {n: v[k].clone() if v.dim() else v.clone() for n, v in s.items()}
                    for i, s in state["state"].items()
                }
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
        while live and self.trainers[live[0]].next_stage() is not None:
            epoch = yield from self._epoch(live, stop)
            if epoch is None:  # stopped
                return
        for k in live:
            yield k, self.trainers[k].done()

    def _epoch(self, live: list[int], stop: threading.Event):
        """One epoch of every copy; each live copy's epoch event (a copy that diverged leaves `live`).
        Returns None when stopped."""
        plans = [t.plan("dann") for t in self.trainers]
        sums, t0, batches = [Sums() for _ in self.trainers], time.perf_counter(), []
        for step in range(plans[0].steps):
            if stop.is_set():
                for k in live:
                    yield k, self.trainers[k].stopped()
                return None
            batches = [t.batch(plan, step) for t, plan in zip(self.trainers, plans)]
            for opt in (self.opts.fc, self.opts.d):  # the lr schedule (SGD anneals): the same for every copy
                for group in opt.param_groups:
                    group["lr"] = batches[0].lr
            xs, ys = torch.stack([b.xs for b in batches]), torch.stack([b.ys for b in batches])
            xt = torch.stack([t.inputs(b.xt, augment=True) for t, b in zip(self.trainers, batches)])
            out = self.step(xs, ys, xt, torch.tensor([b.lamb for b in batches], device=self.device))
            for k, s in enumerate(sums):
                s.add(**{name: v[k] for name, v in out.items()})
            # every copy diverged (one that did alone finishes the epoch with the others, dropped then)
            if (step + 1) % NAN_CHECK_EVERY == 0 and not any(
                torch.isfinite(sums[k].sums["loss"]) for k in live
            ):
                break
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        self._unstack()
        for k in list(live):
            t = self.trainers[k]
            event = t.finish("dann", sums[k], seconds, batches[k].lamb, batches[k].lr)
            if event["kind"] == "epoch":
                t.record(event)
            else:  # this copy diverged: it stops here; the others go on (its NaNs stay in its own weights)
                live.remove(k)
            yield k, event
        return len(live)


STACK_MAX = 16  # copies in one stacked model


class Stacked:
    """The back-end: new runs that can share a batch, up to `STACK_MAX` at a time as one stacked
    model; the rest (and a group that fails, e.g. out of memory with K copies) one after another."""

    def __init__(self, device: str = "auto"):
        self.lane = pick(device).type
        self.alone = InProcess(device, where=self.lane)

    def device_type(self, config: TrainConfig) -> str:
        return pick(config.device).type

    def plan(self, runs: int) -> str:
        return (
            f"{self.lane.upper()}: runs that can share a batch train up to {STACK_MAX} at a time "
            "as one stacked model"
        )

    def train(
        self, requests: list[Request], dataset: Dataset, stop: threading.Event, keep: Keep
    ) -> Iterator[RunEvent]:
        chunks, alone = [], []
        for item in self._groups(requests, dataset, keep):
            if isinstance(item, RunEvent):
                yield item
            else:
                chunks += [item[i : i + STACK_MAX] for i in range(0, len(item), STACK_MAX)]
        for chunk in chunks:
            if len(chunk) == 1 or stop.is_set():
                alone += chunk
                continue
            alone += yield from self._chunk(chunk, dataset, stop, keep)
        yield from self.alone.train(sorted(alone, key=lambda r: r.index), dataset, stop, keep)

    def _groups(
        self, requests: list[Request], dataset: Dataset, keep: Keep
    ) -> Iterator[list[Request] | RunEvent]:
        """The requests that can share a batch, by group (the channels the networks will see decide,
        and auto may choose edges); the others as one more group of one each."""
        groups: dict[tuple, list[Request]] = {}
        for r in requests:
            if (r.folder / "last.pt").exists() or not stackable(r.config):
                groups[("alone", r.index)] = [r]
                continue
            try:
                channels = keep.trainer(r.config, dataset, r.folder).xs.shape[1]
            except ExplorerError as e:
                yield Failed(r.index, self.lane, str(e))
                continue
            groups.setdefault(stack_key(r.config, channels), []).append(r)
        yield from groups.values()

    def _chunk(self, chunk: list[Request], dataset: Dataset, stop: threading.Event, keep: Keep):
        """One stacked group's events; returns the requests left to train alone."""
        where, ended = f"{self.lane}, stacked x{len(chunk)}", set()
        try:
            stack = StackedTrainer([keep.trainer(r.config, dataset, r.folder) for r in chunk])
            for k, event in keep.guarded(
                [r.folder for r in chunk], stack.events(stop), kind=lambda e: e[1]["kind"]
            ):
                if event["kind"] in FINAL:
                    ended.add(k)
                yield typed(chunk[k].index, where, event)
        except ExplorerError as e:  # a run of the group is being trained elsewhere
            for k, r in enumerate(chunk):
                if k not in ended:
                    yield Failed(r.index, where, str(e))
        except Exception as e:  # e.g. out of memory with K copies: each run trains alone, from its last epoch
            message = (
                f"The stacked group of {len(chunk)} failed ({failure(e)}); its runs train one by one instead."
            )
            left = [r for k, r in enumerate(chunk) if k not in ended]
            for r in left:
                yield Retrying(r.index, where, message)
            return left
        return []
