"""Inference with a trained run: class probabilities, a checkpoint loaded for prediction, and the
homework's ``id,label`` submission CSV."""

from __future__ import annotations

import csv
import io
import os

import torch

from explorer.dann.inputs import as_float, of_checkpoint, target_inputs
from explorer.dann.models import build
from explorer.devices import autocast, map_batches
from explorer.store import checkpoints

EVAL_BATCH = 1024


def predict_proba(models: torch.nn.ModuleDict, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Softmax class probabilities of uint8 images, in eval mode, in batches; `models` is left in
    the mode it was in."""

    def probs(x):
        with autocast(device):
            return models["label"](models["feature"](as_float(x, device))).float().softmax(1)

    was = models.training
    models.eval()
    try:
        return map_batches(probs, images, EVAL_BATCH)
    finally:
        models.train(was)


def load_for_prediction(path: str | os.PathLike, device: torch.device) -> tuple[torch.nn.ModuleDict, dict]:
    """The models of a checkpoint (the EMA teacher when it was self-trained), ready for `predict_proba`."""
    ckpt = checkpoints.load(path)
    arch = ckpt["arch"]
    models = build(arch["in_channels"], len(arch["classes"]), arch["width"])
    checkpoints.restore(models, ckpt["teacher"] if ckpt.get("teacher") is not None else ckpt["models"])
    return models.to(device), ckpt


def submission_csv(ids, labels, classes) -> str:
    """``id,label`` rows; ids are positions in the target's sorted file order, labels class names."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "label"])
    w.writerows((int(i), classes[int(y)]) for i, y in zip(ids, labels))
    return buf.getvalue()


def checkpoint_submission(models: torch.nn.ModuleDict, ckpt: dict, domain, device: torch.device) -> str:
    """The ``id,label`` CSV of a loaded checkpoint's predictions for a target domain."""
    probs = predict_proba(
        models, target_inputs(domain.images, of_checkpoint(ckpt), ckpt["arch"]["in_channels"]), device
    )
    return submission_csv(domain.ids, probs.argmax(1).cpu(), ckpt["arch"]["classes"])
