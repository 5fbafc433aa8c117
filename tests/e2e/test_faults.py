"""Faults, in a browser against the real app: hostile uploads, and the app killed while it trains."""

import io
import os
import stat
import struct
import time
import zipfile
import zlib

import torch

from explorer.store import checkpoints
from tests.e2e.conftest import (
    App,
    by_hand,
    epoch_shown,
    errors,
    go,
    open_zip,
    photo_zip,
    set_number,
    settle,
    uploader,
    wait_epoch,
)


def tree(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def zip_with(entries) -> bytes:
    """entries: (ZipInfo or name, bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def png(pixels: bytes = b"\x00" * 64) -> bytes:
    buf = io.BytesIO()
    from PIL import Image

    Image.frombytes("L", (8, 8), pixels).save(buf, format="PNG")
    return buf.getvalue()


def traversal_zip() -> bytes:
    return zip_with([("source/cat/a.png", png()), ("../../../../escaped.txt", b"pwned")])


def symlink_zip() -> bytes:
    link = zipfile.ZipInfo("source/cat/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_with([("source/cat/a.png", png()), (link, b"/etc/passwd")])


def bomb_zip() -> bytes:
    """1.1 GiB of zeros in about a megabyte: over the 1 GiB extraction cap."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("source/cat/zeros.png", "w", force_zip64=True) as f:
            chunk = b"\x00" * (64 << 20)
            for _ in range(18):
                f.write(chunk)
    return buf.getvalue()


def non_utf8_zip() -> bytes:
    """An entry name of bytes that are not UTF-8 although the zip's flag says they are."""
    data = bytearray(zip_with([("source/cat/PLACEHOLDER.png", png())]))
    data = bytearray(bytes(data).replace(b"PLACEHOLDER", b"caf\xe9\xff\xfe____"))
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = data.find(sig)
        struct.pack_into("<H", data, i + off, struct.unpack_from("<H", data, i + off)[0] | 0x800)
    return bytes(data)


def huge_png(side: int = 20000) -> bytes:
    """A real 20000x20000 grey PNG (400 megapixels), compressed to well under a megabyte."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    z, row, parts = zlib.compressobj(9), b"\x00" * (side + 1), []
    for _ in range(side):
        parts.append(z.compress(row))
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


class Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_hostile_uploads_leave_the_server_healthy_and_write_only_into_the_session_folder(page, app):
    outside = app.home.parent
    sentinel = outside / "pwned"
    before = tree(outside)

    refused = {}
    for name, data in [
        ("traversal.zip", traversal_zip()),
        ("symlink.zip", symlink_zip()),
        ("bomb.zip", bomb_zip()),
        ("non-utf8.zip", non_utf8_zip()),
    ]:
        open_zip(page, data, name)
        refused[name] = errors(page)
        assert app.healthy()
    assert "points outside the archive" in refused["traversal.zip"][0]
    assert "symbolic link" in refused["symlink.zip"][0]
    assert "expands to more than 1,024 MiB" in refused["bomb.zip"][0]
    assert "not a readable zip" in refused["non-utf8.zip"][0]
    assert "builtin" in page.locator("[data-testid='stSidebar']").inner_text()  # the dataset in use stays

    go(page, "Layer Activations")
    page.get_by_test_id("stRadioGroup").get_by_text("Random (not pretrained)").click()
    settle(page)
    seen = {}
    for name, data in [("huge.png", huge_png()), ("caf\udce9 \udcff.png", png(bytes(range(64))))]:
        uploader(page, "Drop an image").set_input_files(
            {"name": name, "mimeType": "image/png", "buffer": data}
        )
        page.wait_for_timeout(1000)
        settle(page, 1000)
        seen[name] = (errors(page), page.locator("[data-testid='stMain']").inner_text())
        assert app.healthy()
    assert "huge.png: too large: 400,000,000 pixels (limit 40 megapixels)." in " ".join(
        seen["huge.png"][0]
    ), seen["huge.png"][0]
    shown = seen["caf\udce9 \udcff.png"][1]
    # read; its name as the browser sent it
    assert "(8x8 L)" in shown and "conv1: maps 0–63" in shown, shown[:1200]

    page.get_by_text("Upload a state_dict").click()
    settle(page)
    evil = io.BytesIO()
    torch.save({"conv1.weight": Evil(sentinel)}, evil)
    uploader(page, "state_dict").set_input_files(
        {"name": "resnet18.pth", "mimeType": "application/octet-stream", "buffer": evil.getvalue()}
    )
    page.wait_for_selector("[data-testid='stAlertContentError']")
    settle(page)
    assert "refused" in " ".join(errors(page)).lower()
    assert not sentinel.exists() and app.healthy()

    new = tree(outside) - before
    sessions = {
        p.split(os.sep)[2]
        for p in new
        if p.startswith(f"home{os.sep}sessions{os.sep}") and p.count(os.sep) >= 2
    }
    assert len(sessions) <= 1
    stray = [p for p in new if not p.startswith(f"home{os.sep}sessions") and p != "app.log"]
    assert not stray, stray
    assert not any("escaped" in p or "passwd" in p or "zeros" in p for p in new)


def test_the_app_killed_while_it_trains_keeps_only_whole_checkpoints(browser, tmp_path):
    """`kill -9` the app at two moments of a run; after each restart every checkpoint loads, no
    temporary file is left, and the same address resumes the run from its last whole epoch.
    (Whether a kill lands inside a write is chance here; tests/test_cache.py kills a process in the
    middle of one on purpose.)"""
    app = App(tmp_path / "home", tmp_path / "app.log").start()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    data = photo_zip(("apple", "banana"), n=60)
    try:
        page.goto(app.url)
        settle(page)
        reached, born = [0], None
        for delay in (1.5, 3.0):
            # the dataset lives in the browser session: again after a restart
            open_zip(page, data, "orchard.zip")
            go(page, "Train DANN")
            set_number(page, "Epochs", 1000)
            by_hand(page)
            page.get_by_role("button", name="Start training").click()
            wait_epoch(page, reached[-1])
            assert epoch_shown(page) >= reached[-1]  # resumed, not begun again
            wait_epoch(page, epoch_shown(page) + 1)  # at least one epoch, and its checkpoint, in this life
            time.sleep(delay)
            address = page.url
            app.kill()
            (run,) = (app.home / "runs").iterdir()
            born = born or (run / "config.json").stat().st_mtime_ns
            app.start()
            page.goto(address)  # the same address: the same session id, so the same runs
            settle(page)  # the first page load runs the housekeeping
            assert not list(run.glob(".*.tmp"))
            pts = sorted(run.glob("*.pt"))
            assert "last.pt" in [p.name for p in pts]
            for p in pts:
                checkpoints.load(p)
            reached.append(checkpoints.load(run / "last.pt")["epoch"])
            assert reached[-1] > reached[-2]
        open_zip(page, data, "orchard.zip")
        go(page, "Train DANN")
        set_number(page, "Epochs", 1000)
        by_hand(page)
        page.get_by_role("button", name="Start training").click()
        wait_epoch(page, reached[-1] + 1)
        page.get_by_role("button", name="Stop", exact=True).click()
        page.wait_for_selector("text=/Stopped by request/")
        assert not errors(page)
        assert (run / "config.json").stat().st_mtime_ns == born  # written once: every start was a resume
        assert (run / "metrics.jsonl").read_text().count("\n") >= reached[-1] + 1
    finally:
        context.close()
        app.stop()
    assert not app.tracebacks()
