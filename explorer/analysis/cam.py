"""Where a classifier looks: class-activation maps (Grad-CAM, Score-CAM) of any run of the project.

A map answers "which pixels made the model say class c?" for one image. With A_k the k-th channel of a
conv layer's output and y_c the class's logit (torchcam, `torchcam.methods`):

* Grad-CAM (Selvaraju et al. 2017): ``L = ReLU(sum_k w_k A_k)``, ``w_k = mean_ij dy_c / dA_k(i, j)``,
  one forward and one backward pass to the layer for the whole batch;
* Score-CAM (Wang et al. 2020), gradient-free: ``w = softmax_k(y_c(x * M_k) - y_c(x))``, M_k the
  channel upsampled to the input and scaled to [0, 1]: one forward pass per channel and image.

Each map is min-max normalised (torchcam), upsampled bilinearly to the input size, and normalised to
[0, 1] again; a map that is zero everywhere (no evidence for the class at that layer) stays zero.

A `Classifier` is one model as an ``nn.Module`` from a prepared image in [0, 1] to class logits,
with the function that prepares a domain's uint8 images exactly as its run did (`load_classifier`):

* a DANN or source-only run of the engine: the checkpoint it ships (`explorer.dann.runfolder.shipped`:
  the default validator's pick; the EMA teacher when it self-trained), label predictor on the
  feature extractor, inputs by `explorer.analysis.activations.dann_inputs` (Canny, grey or colour,
  inversion per domain);
* a ``finetune --out`` folder (model.pt + config.json): the torchvision backbone with its head,
  ImageNet normalisation inside the module, so its input is in [0, 1] like the others.

In-place ReLUs are made out-of-place in the loaded copy so the layer a map is taken at holds its own
output (an in-place ReLU overwrites the layer before it). The layer defaults to the last one whose
output is still a picture (more than 1x1): the last conv block before its pooling; at 32 px that is
the HW model's block 5 at 2x2, so block 4 (4x4) is the finer choice. The extractor is used as a
context manager: its hooks are removed however the call ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchcam.methods import GradCAM, ScoreCAM

from explorer.analysis.activations import dann_inputs
from explorer.errors import ExplorerError
from explorer.store.runs import read_config

METHODS = ("gradcam", "scorecam")
SCORECAM_BATCH = 256  # masked inputs per forward pass


@dataclass(frozen=True)
class Cams:
    maps: torch.Tensor  # (N, H, W) in [0, 1], at the input's size
    predicted: torch.Tensor  # (N,) class index the maps explain
    probs: torch.Tensor  # (N, K) softmax of the logits
    layer: str


@dataclass
class Classifier:
    """One model as image -> logits, with its classes and how its run prepared each domain."""

    model: nn.Module
    classes: tuple[str, ...]
    image_size: int
    prepare: Callable[[torch.Tensor, str], torch.Tensor]  # (uint8 images, "source" | "target") -> model input
    name: str  # what it is, in words
    config: dict = field(default_factory=dict)  # the run's config.json
    checkpoint: str = ""  # which checkpoint, in words
    in_channels: int = 3  # of the prepared images

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)

    @property
    def source_only(self) -> bool:
        return self.config.get("method") == "source-only"


class DannClassifier(nn.Module):
    """The label predictor on the feature extractor: layers are named ``feature.conv.<i>``."""

    def __init__(self, models: nn.ModuleDict):
        super().__init__()
        self.feature, self.label = models["feature"], models["label"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.label(self.feature(x))


class NormalisedBackbone(nn.Module):
    """A torchvision classifier taking [0, 1] images (grey repeated to RGB): layers are ``net.<name>``."""

    def __init__(self, net: nn.Module):
        from explorer.transfer.backbones import IMAGENET_MEAN, IMAGENET_STD

        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
        return self.net((x - self.mean) / self.std)


def _out_of_place(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model.eval()


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Every named module's output shape (C, H, W) for one input of `input_shape`, in the order the
    outputs are made; only 4-D outputs. One no-grad pass, its hooks removed in every case."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def hook(name):
        def record(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                shapes.pop(name, None)  # a module used twice (ResNet's relu) counts where it last ran
                shapes[name] = tuple(output.shape[1:])

        return record

    device = next(model.parameters()).device
    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(hook(name)))
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    return shapes


def layer_names(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """The layers a map can be taken at: those whose output is still a picture (more than 1x1).
    Found once per model and input shape (kept while the model lives)."""
    known = _NAMES.setdefault(model, {})
    if input_shape not in known:
        known[input_shape] = [n for n, s in layer_shapes(model, input_shape).items() if s[1] * s[2] > 1]
    return list(known[input_shape])


_NAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {input shape: layer names}


def block_outputs(classifier: Classifier) -> dict[str, str]:
    """The layers worth a map, by name, in words: each conv block's output (its ReLU, before the
    pooling) with the map's resolution; for a torchvision ResNet its four stages. Other models: every
    layer with a picture-shaped output."""
    model, shape = classifier.model, classifier.input_shape
    shapes, named = layer_shapes(model, shape), layer_names(model, shape)
    types = dict(model.named_modules())
    stages = ("layer1", "layer2", "layer3", "layer4")
    blocks = (
        [n for n in named if isinstance(types[n], nn.ReLU) and n.startswith("feature.")]
        or [n for n in named if n.rsplit(".", 1)[-1] in stages]
        or named
    )
    return {
        n: f"{'block' if n.startswith('feature.') else n.rsplit('.', 1)[-1]} {i}: {n} · "
        f"{shapes[n][1]}x{shapes[n][2]} map"
        for i, n in enumerate(blocks, start=1)
    }


def check_layer(model: nn.Module, input_shape: tuple[int, ...], layer: str | None = None) -> str:
    """`layer` if maps can be taken there, else an `ExplorerError` listing the layers that can; None:
    the default, the last of them (the last conv block before its pooling)."""
    names = layer_names(model, input_shape)
    if not names:
        raise ExplorerError(f"The model has no layer with a spatial output for {input_shape[-1]} px images.")
    if layer is not None and layer not in names:
        raise ExplorerError(
            f"No layer {layer!r} to take a map at; the layers with a spatial output are: {', '.join(names)}."
        )
    return layer or names[-1]


def _extractor(model: nn.Module, method: str, layer: str):
    if method == "gradcam":
        return GradCAM(model, layer)
    return ScoreCAM(model, layer, batch_size=SCORECAM_BATCH)


def cams(model: nn.Module, images: torch.Tensor, method: str = "gradcam", layer: str | None = None) -> Cams:
    """Maps of the predicted class for prepared `images` (N, C, H, W) in [0, 1]. `layer` defaults to
    the last conv block; a name that is not one of `layer_names` is refused (`check_layer`)."""
    if method not in METHODS:
        raise ExplorerError(f"Unknown CAM method {method!r}; choose one of {', '.join(METHODS)}.")
    layer = check_layer(model, tuple(images.shape[1:]), layer)
    was = model.training
    if was:  # switching modes walks every module: only when needed
        model.eval()
    try:
        with _extractor(model, method, layer) as extractor:
            # also when called under no_grad
            with torch.inference_mode(False), torch.set_grad_enabled(method == "gradcam"):
                x = images.clone() if images.is_inference() else images.detach()
                logits = model(x.requires_grad_(method == "gradcam"))
                predicted = logits.argmax(1)
                raw = extractor(predicted.tolist(), logits)[0]
                probs = logits.detach().float().softmax(1)
    finally:
        if was:
            model.train()
    return Cams(upsampled(raw.detach(), images.shape[-2:]), predicted.cpu(), probs.cpu(), layer)


def upsampled(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) maps -> (N, H, W), bilinear, each scaled to [0, 1] (an all-zero map stays zero)."""
    m = F.interpolate(maps[:, None].float(), size=tuple(size), mode="bilinear", align_corners=False)[
        :, 0
    ].clamp_min(0)
    lo = m.flatten(1).amin(1).view(-1, 1, 1)
    span = m.flatten(1).amax(1).view(-1, 1, 1) - lo
    return torch.where(span > 0, (m - lo) / span.clamp_min(1e-12), torch.zeros_like(m)).cpu()


def load_classifier(run_dir: str | Path, checkpoint: str | Path | None = None) -> Classifier:
    """A run's classifier: a DANN/source-only run folder (the checkpoint it ships unless `checkpoint`
    is given) or a ``finetune --out`` folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExplorerError(f"Run folder not found: {run_dir}")
    if (run_dir / "model.pt").is_file() and not (run_dir / "last.pt").is_file():
        return _finetuned(run_dir)
    from explorer.dann.inputs import of_checkpoint
    from explorer.dann.predict import load_for_prediction

    path, which = (Path(checkpoint), Path(checkpoint).name) if checkpoint else _shipped(run_dir)
    models, ckpt = load_for_prediction(path, torch.device("cpu"))
    arch, preprocess = ckpt["arch"], of_checkpoint(ckpt)
    config = read_config(run_dir) or ckpt["config"]

    def prepare(images: torch.Tensor, domain: str) -> torch.Tensor:
        return dann_inputs(images, preprocess, arch["in_channels"], domain)

    from explorer.store.runs import run_label

    name = run_label(config) if "method" in config else "run"
    return Classifier(
        _out_of_place(DannClassifier(models)),
        tuple(arch["classes"]),
        ckpt["config"]["image_size"],
        prepare,
        name,
        config,
        which if which.startswith("epoch") else f"{which}, epoch {ckpt['epoch']}",
        arch["in_channels"],
    )


def _shipped(run_dir: Path) -> tuple[Path, str]:
    """The checkpoint a run folder ships (`explorer.dann.runfolder.shipped`) and which it is, in words."""
    from explorer.dann.runfolder import shipped

    if read_config(run_dir) is None:
        raise ExplorerError(f"{run_dir} is not a run folder (no readable config.json).")
    ship = shipped(run_dir)
    if not ship.path.is_file():
        raise ExplorerError(
            f"The run in {run_dir} has no checkpoints yet: train it (at least one epoch) first."
        )
    return ship.path, ship.label if ship.epoch is not None else ship.path.name


def _finetuned(run_dir: Path) -> Classifier:
    from explorer.transfer.backbones import load_backbone, load_state_file
    from explorer.transfer.freezing import replace_head

    config = read_config(run_dir)
    if not config or "backbone" not in config or not isinstance(config.get("classes"), list):
        raise ExplorerError(
            f"{run_dir} has a model.pt but no fine-tuning config.json (backbone and classes)."
        )
    net = replace_head(
        load_backbone(config["backbone"], "random").model, config["backbone"], len(config["classes"])
    )
    try:
        net.load_state_dict(load_state_file(run_dir / "model.pt"))
    except RuntimeError as e:
        raise ExplorerError(
            f"{run_dir}/model.pt does not fit a {config['backbone']} ({str(e).splitlines()[0][:160]})."
        ) from None

    def prepare(images: torch.Tensor, domain: str) -> torch.Tensor:
        return images.float() / 255

    return Classifier(
        _out_of_place(NormalisedBackbone(net)),
        tuple(config["classes"]),
        int(config.get("image_size", 32)),
        prepare,
        f"fine-tuned {config['backbone']}",
        config,
        "model.pt",
    )


def check_twin(run: Classifier, twin: Classifier) -> None:
    """Refuse a twin trained on other data or other classes than the run: the maps would not compare."""
    a, b = run.config.get("data_fingerprint"), twin.config.get("data_fingerprint")
    if a is None or b is None or a != b:
        raise ExplorerError(
            f"The twin ({twin.name}) was trained on other data than the run ({run.name}): data fingerprints "
            f"{b or 'unknown'} and {a or 'unknown'}. Pick the source-only run trained on the same domains."
        )
    if run.classes != twin.classes or run.image_size != twin.image_size:
        raise ExplorerError(
            "The twin's classes or image size differ from the run's; "
            "pick the twin trained with the same options."
        )
