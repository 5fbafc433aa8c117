"""Fine-tuning: exactly the intended parameters learn, the new head fits the classes, cached
features give the same losses as running the frozen backbone, the CLI and the page."""

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.cli import main
from explorer.data.builtin import load_builtin
from explorer.errors import ExplorerError
from explorer.transfer.events import FinetuneDone
from explorer.transfer.finetune import FinetuneConfig, FineTuner, head

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def digits():
    return load_builtin(32).source


@pytest.mark.parametrize(
    "backbone, freeze, learning, frozen",
    [
        ("resnet18", "head", ["fc."], ["conv1.", "layer1.", "layer4."]),
        ("resnet18", "from:layer3", ["layer3.", "layer4.", "fc."], ["conv1.", "bn1.", "layer1.", "layer2."]),
        ("resnet18", "none", ["conv1.", "layer1.", "fc."], []),
        (
            "vgg16",
            "from:block5",
            ["features.24.", "features.28.", "classifier.0.", "classifier.6."],
            ["features.0.", "features.21."],
        ),
    ],
)
def test_exactly_the_intended_parameters_learn(digits, backbone, freeze, learning, frozen):
    t = FineTuner(FinetuneConfig(backbone=backbone, weights="random", freeze=freeze, batch_size=8), digits)
    for name, p in t.model.named_parameters():
        if any(name.startswith(f) for f in frozen):
            assert not p.requires_grad, name
        if any(name.startswith(prefix) for prefix in learning):
            assert p.requires_grad, name
    t.model.train()
    t.loss(torch.arange(8), head(t.model, backbone)).backward()
    for name, p in t.model.named_parameters():
        assert (p.grad is None) == (not p.requires_grad), name
    assert head(t.model, backbone).out_features == len(digits.classes) == 10
    assert t.params["trainable"] + t.params["frozen"] == t.params["total"]


def test_cached_features_give_the_same_loss_as_the_frozen_backbone(digits):
    cached = FineTuner(FinetuneConfig(weights="random", freeze="head"), digits)
    plain = FineTuner(FinetuneConfig(weights="random", freeze="head", cache_features=False), digits)
    plain.model.load_state_dict(cached.model.state_dict())
    cached.cached = (cached.features(cached.train_idx), digits.labels[cached.train_idx])
    cached.model.eval()
    plain.model.eval()
    for positions in (torch.arange(0, 64), torch.randperm(len(cached.train_idx))[:64]):
        a = cached.loss(positions, head(cached.model, "resnet18"))
        b = plain.loss(positions, head(plain.model, "resnet18"))
        assert torch.allclose(a, b, atol=1e-5)


def test_head_only_runs_and_reports_speeds(digits):
    t = FineTuner(FinetuneConfig(weights="random", freeze="head", epochs=3, per_class=20), digits)
    events = list(t.events())
    done = events[-1]
    assert isinstance(done, FinetuneDone) and done.epochs == 3 and done.trainable_params == 5130
    assert done.seconds_per_epoch["later"] < done.seconds_per_epoch["first"]
    assert len(t.train_idx) == 10 * 20 and done.weights == "random (not pretrained)"


def test_bad_data(digits):
    one = replace(digits, labels=torch.zeros(len(digits), dtype=torch.int64), classes=("only",))
    with pytest.raises(ExplorerError, match="at least two classes"):
        FineTuner(FinetuneConfig(weights="random"), one)
    with pytest.raises(ExplorerError, match="training images for a batch size of 64"):
        FineTuner(FinetuneConfig(weights="random", per_class=3), digits)
    with pytest.raises(ExplorerError, match="no stage 'layer9'"):
        FineTuner(FinetuneConfig(weights="random", freeze="from:layer9"), digits)


def test_cli_finetune(tmp_path, capsys):
    def finetune(weights: str, epochs: int, out: str) -> dict:
        """`explorer finetune` on the embedded data; the summary it prints last."""
        options = ["--weights", weights, "--epochs", str(epochs), "--out", str(tmp_path / out)]
        assert main(["finetune", "--data", "builtin", *options]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    out = finetune("random", 2, "ft")
    assert {"val_acc", "seconds_per_epoch", "trainable_params", "weights"} <= out.keys()
    assert set(out["seconds_per_epoch"]) == {"first", "later"} and out["weights"] == "random (not pretrained)"
    # the exported state_dict loads again as weights (its 10-class head is left out for a new head)
    assert finetune(str(tmp_path / "ft" / "model.pt"), 1, "ft2")["weights"] == "file:model.pt"


def test_page_head_only_run_completes_and_is_compared(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("app_pages/finetune.py").run()
    # offline: what works here
    assert not at.warning and at.radio(key="ft_weights").value == "Random (not pretrained)"
    assert not next(b for b in at.button if b.label == "Start fine-tuning").disabled
    assert at.dataframe[0].value["trainable parameters"].tolist() == [5130]
    at.number_input(key="ft_epochs").set_value(2).run()
    next(b for b in at.button if b.label == "Start fine-tuning").click().run()
    end = time.time() + 120
    while time.time() < end:
        at.run()
        runs = [d.value for d in at.dataframe if "state" in d.value.columns]
        if runs and runs[0]["state"].tolist()[0] == "done":
            break
        time.sleep(0.5)
    assert not at.exception and runs[0]["epochs"].tolist() == [2]
    assert runs[0]["trainable params"].tolist() == [5130]
    assert any(b.label.startswith("state_dict: resnet18") for b in at.get("download_button"))
    # the model is kept in this session's folder, and Layer Activations offers it beside the same architecture
    at.switch_page("app_pages/activations.py").run()
    at.radio(key="a_weights").set_value("Random (not pretrained)").run()
    other = at.selectbox(key="a_other_resnet18_random")
    tuned = [o for o in other.options if o.startswith("fine-tuned here")]
    assert tuned == ["fine-tuned here: resnet18 · random · train head"]
    other.set_value(tuned[0]).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.main.markdown if m.value.startswith("**")][:2] == [
        "**random (not pretrained)**",
        f"**{tuned[0]}**",
    ]


def test_frozen_batchnorm_statistics_do_not_move(digits):
    t = FineTuner(FinetuneConfig(weights="random", freeze="from:layer4", epochs=1), digits)
    before = t.model.layer1[0].bn1.running_mean.clone()
    after4 = t.model.layer4[0].bn1.running_mean.clone()
    list(t.events())
    assert torch.equal(t.model.layer1[0].bn1.running_mean, before)  # frozen stage
    assert not torch.equal(t.model.layer4[0].bn1.running_mean, after4)  # learning stage


def test_counting_parameters_does_not_change_the_model(digits):
    from torchvision import models

    from explorer.transfer.finetune import parameter_table, replace_head

    m = replace_head(models.resnet18(weights=None), "resnet18", 10)
    assert parameter_table(m, "resnet18", "head")["trainable"] == 5130
    assert all(p.requires_grad for p in m.parameters())  # untouched: safe to share between sessions
    small = replace(digits, images=digits.images[:, :, :28, :28].contiguous())
    with pytest.raises(ExplorerError, match="vgg16 .* at least 32 px"):
        FineTuner(FinetuneConfig(backbone="vgg16", weights="random"), small)
