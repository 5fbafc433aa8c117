"""Fine-tuned models kept in a folder: the weights come back, the label is kept, newest first, and
a damaged or missing sidecar leaves that one model out without stopping the listing."""

import os
import time

import torch

from explorer.transfer import saved as S
from explorer.transfer.backbones import load_backbone, load_state_file


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_round_trip_keeps_weights_and_label(tmp_path):
    model = _model(0)
    path = S.save(model, tmp_path / "finetuned", "resnet18 · imagenet · train head")
    assert path.parent == tmp_path / "finetuned" and path.suffix == ".pt"
    state = torch.load(path, weights_only=True)  # a plain state_dict, as the page's download promises
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert S.saved(tmp_path / "finetuned") == [("resnet18 · imagenet · train head", path)]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_a_saved_backbone_loads_by_its_path(tmp_path):
    net = load_backbone("resnet18", "random").model
    path = S.save(net, tmp_path, "resnet18 · random · train head")
    loaded = load_backbone("resnet18", str(path))
    assert loaded.weights == f"file:{path.name}"
    assert torch.equal(loaded.model.conv1.weight, net.conv1.weight)
    assert load_state_file(path).keys() == net.state_dict().keys()


def test_newest_first_and_the_same_label_twice(tmp_path):
    paths = [S.save(_model(k), tmp_path, label) for k, label in enumerate(["first", "second", "first"])]
    assert S.saved(tmp_path) == [("first", paths[2]), ("second", paths[1]), ("first", paths[0])]


def test_a_damaged_or_missing_sidecar_leaves_only_that_model_out(tmp_path):
    good = S.save(_model(0), tmp_path, "good")
    for k, text in enumerate(["{not json", "[1, 2]", '{"label": 3}', '{"label": ""}', "\udcff"]):
        bad = S.save(_model(k + 1), tmp_path, "bad")
        bad.with_suffix(".json").write_text(text, errors="surrogateescape")  # the last: not UTF-8 at all
    S.save(_model(9), tmp_path, "no sidecar").with_suffix(".json").unlink()
    when = S.save(_model(10), tmp_path, "no time")
    # a sidecar without a readable time: its file's time instead
    when.with_suffix(".json").write_text('{"label": "no time", "saved": "yesterday"}')
    os.utime(when, (time.time() + 60, time.time() + 60))  # a minute from now, so listed first
    (tmp_path / "orphan.json").write_text('{"label": "no weights"}')
    assert S.saved(tmp_path) == [("no time", when), ("good", good)]


def test_no_folder_lists_nothing(tmp_path):
    assert S.saved(tmp_path / "missing") == []
