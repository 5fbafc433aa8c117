"""Weights downloads against a local HTTP server started here: success with progress, one download
for concurrent requests, hash mismatch, unreachable, 404, 500, a cut-off transfer, a stalled server,
the mirror and the allow-downloads switch. No test needs the internet."""

import hashlib
import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import torch
from torchvision import models

from explorer.transfer import backbones
from explorer.transfer import download as D


def state_bytes(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def hub_name(stem: str, data: bytes) -> str:
    """A file name as torch.hub writes them: the first 8 hex digits of the SHA-256 after the last '-'."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


class Server:
    """Serves `files` at /<name>; /404/..., /500/... answer those codes; /cut/<name> stops halfway;
    /stall/<name> sends nothing for a while. Counts the requests per path."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                kind, _, name = self.path.strip("/").rpartition("/")
                if kind in ("404", "500"):
                    self.send_error(int(kind))
                    return
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                if kind == "stall":
                    time.sleep(2.0)
                time.sleep(server.delay)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if kind == "cut" else data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def tiny():
    data = state_bytes({"w": torch.arange(50_000, dtype=torch.float32)})
    return hub_name("tiny", data), data


def test_success_reports_progress_and_leaves_only_the_file(server, tiny, tmp_path):
    name, data = tiny
    server.files[name] = data
    seen = []
    path = D.fetch(f"{server.url}/{name}", tmp_path / name, lambda got, total: seen.append((got, total)))
    assert path.read_bytes() == data
    assert seen[-1] == (len(data), len(data)) and len(seen) > 1 and seen == sorted(seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name, name + ".lock"]  # no .partial left


def test_concurrent_requests_download_once(server, tiny, tmp_path):
    name, data = tiny
    server.files[name] = data
    server.delay = 0.3
    threads = [
        threading.Thread(target=D.fetch, args=(f"{server.url}/{name}", tmp_path / name)) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.hits == {f"/{name}": 1} and (tmp_path / name).read_bytes() == data


@pytest.mark.parametrize(
    "path, message",
    [
        ("404/{name}", "answered HTTP 404"),
        ("500/{name}", "answered HTTP 500"),
        ("cut/{name}", "was cut off after"),
        ("{other}", "not the expected one"),  # served under a name whose hash part is not its hash
    ],
)
def test_failures_are_named_and_leave_nothing(server, tiny, tmp_path, path, message):
    name, data = tiny
    other = hub_name("tiny", b"something else")
    server.files[name] = server.files[other] = data
    with pytest.raises(D.DownloadFailed, match=message):
        D.fetch(
            f"{server.url}/{path.format(name=name, other=other)}",
            tmp_path / (other if "other" in path else name),
        )
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".pth", ".partial")]


def test_unreachable_and_stalled_servers(server, tiny, tmp_path, monkeypatch):
    name, data = tiny
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(D.DownloadFailed, match="connection refused"):
        D.fetch(f"http://127.0.0.1:{port}/{name}", tmp_path / name)
    server.files[name] = data
    monkeypatch.setattr(D, "TIMEOUT_S", 0.5)
    with pytest.raises(D.DownloadFailed, match="did not answer within 0.5 s|stopped answering"):
        D.fetch(f"{server.url}/stall/{name}", tmp_path / name)
    assert D._network(socket.gaierror(-2, "Name or service not known"), "download.pytorch.org").startswith(
        "the name download.pytorch.org could not be resolved"
    )


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("EXPLORER_ALLOW_DOWNLOADS", "1")
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_imagenet_weights_download_through_the_mirror_and_load(server, hub, monkeypatch):
    """The whole path: not in the hub cache -> fetched from the mirror (same file name) -> loaded."""
    torch.manual_seed(0)
    state = models.resnet18(weights=None).state_dict()
    data = state_bytes(state)
    name = hub_name("resnet18", data)
    server.files[name] = data
    monkeypatch.setitem(
        backbones.WEIGHTS,
        "resnet18",
        SimpleNamespace(url=f"https://download.pytorch.org/models/{name}", name="IMAGENET1K_V1"),
    )
    monkeypatch.setenv("EXPLORER_WEIGHTS_MIRROR", server.url + "/")
    seen = []
    loaded = backbones.load_backbone("resnet18", "imagenet", progress=lambda got, total: seen.append(got))
    assert loaded.weights.startswith("imagenet:IMAGENET1K_V1") and seen[-1] == len(data)
    assert torch.equal(loaded.model.conv1.weight, state["conv1.weight"])
    assert (hub / name).is_file() and backbones.load_backbone(
        "resnet18", "imagenet"
    ).weights == loaded.weights
    assert server.hits == {f"/{name}": 1}  # the second load came from the hub cache


def test_the_real_file_name_with_other_bytes_is_refused(server, hub, tiny, monkeypatch):
    _, data = tiny
    real = backbones.hub_file("resnet18").name  # resnet18-f37072fd.pth
    server.files[real] = data
    monkeypatch.setenv("EXPLORER_WEIGHTS_MIRROR", server.url)
    with pytest.raises(backbones.WeightsMissing) as e:
        backbones.load_backbone("resnet18", "imagenet")
    text = str(e.value)
    assert (
        "not the expected one" in text
        and "Retry" in text
        and str(hub) in text
        and "state_dict (upload it" in text
    )
    assert not (hub / real).exists()


def test_downloads_switched_off(hub, monkeypatch):
    monkeypatch.setenv("EXPLORER_ALLOW_DOWNLOADS", "0")
    assert not D.allowed()
    with pytest.raises(backbones.WeightsMissing, match="downloads are turned off"):
        backbones.load_backbone("resnet18", "imagenet")
    with pytest.raises(backbones.WeightsMissing, match="downloads are turned off"):
        backbones.load_backbone("resnet18", "imagenet", allow_download=True)  # the server's setting wins
    monkeypatch.setenv("EXPLORER_ALLOW_DOWNLOADS", "1")
    with pytest.raises(backbones.WeightsMissing, match="turned off for this session"):
        backbones.load_backbone("resnet18", "imagenet", allow_download=False)


def test_layer_activations_downloads_imagenet_and_sets_it_beside_random(server, hub, monkeypatch):
    """The page's path: it opens on random weights with one line and a Download button (nothing is
    fetched unasked); a click fetches the file from the mirror into the hub cache, chooses ImageNet
    and draws it beside random weights, the most informative pair once the file is there."""
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    torch.manual_seed(0)
    data = state_bytes(models.resnet18(weights=None).state_dict())
    name = hub_name("resnet18", data)
    server.files[name] = data
    monkeypatch.setitem(
        backbones.WEIGHTS,
        "resnet18",
        SimpleNamespace(
            url=f"https://download.pytorch.org/models/{name}",
            name="IMAGENET1K_V1",
            meta={"_file_size": 44.661},
        ),
    )
    monkeypatch.setenv("EXPLORER_WEIGHTS_MIRROR", server.url)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/activations.py").run()
    try:
        assert not at.exception and not at.error and not at.warning and not server.hits
        assert at.radio(key="a_weights").value == "Random (not pretrained)"
        assert any("need a one-time download (45 MB) into the torch hub cache" in c.value for c in at.caption)
        next(b for b in at.button if b.label == "Download").click().run()
        assert not at.exception and not at.error and not at.warning
        assert (hub / name).is_file() and server.hits == {f"/{name}": 1}
        assert at.radio(key="a_weights").value == "ImageNet" and not [
            b for b in at.button if b.label == "Download"
        ]
        titles = [m.value for m in at.main.markdown if m.value.startswith("**")]
        assert titles[0].startswith("**imagenet:IMAGENET1K_V1") and titles[1] == "**random (not pretrained)**"
        assert any("the most informative pair on this machine" in c.value for c in at.caption)
        captions = [c for i in at.image for c in i.captions]
        assert sum("conv1 weights: 64 kernels of 7x7" in c for c in captions) == 2
        assert sum("conv1: maps 0–63" in c for c in captions) == 2
    finally:
        st.cache_resource.clear()  # the stand-in "ImageNet" model must not outlive this test


def test_a_full_disk_is_named_and_leaves_nothing(server, tiny, tmp_path, monkeypatch):
    import builtins
    import errno

    name, data = tiny
    server.files[name] = data

    class Full(io.BytesIO):
        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

    real_open = builtins.open
    monkeypatch.setattr(
        D,
        "open",
        lambda path, mode="r", *a, **k: (
            Full() if str(path).endswith(".partial") else real_open(path, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(
        D.DownloadFailed, match="the disk of the torch hub cache is full: it needs 0.2 MB free"
    ):
        D.fetch(f"{server.url}/{name}", tmp_path / name)
    assert not (tmp_path / name).exists()
