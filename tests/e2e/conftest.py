"""Real-browser tests: `streamlit run app.py` on a free port, driven by Playwright with Debian's chromium.

Every test here is marked ``e2e`` and left out of the default run; run them with ``pytest -m e2e``. With
``E2E_SCREENSHOTS=docs/screenshots`` the tests that reach a page's telling state save the README's
screenshots there; otherwise they go to a temporary folder.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGES = {
    "Data": "data",
    "Canny Tuner": "canny",
    "Train DANN": "train",
    "Feature Space": "features",
    "Layer Activations": "activations",
    "Transfer Fine-tune": "finetune",
}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """One `streamlit run app.py` process with its own EXPLORER_HOME; can be killed and restarted."""

    def __init__(self, home: Path, log: Path, prefix=(), flags=(), module: str = "streamlit", **env):
        # e.g. taskset; more Streamlit flags
        self.home, self.log, self.prefix, self.flags = (home, log, list(prefix), list(flags))
        self.module = module  # or bench.timed_server: `streamlit run`, timing each script run
        self.env = (
            dict(
                os.environ,
                EXPLORER_HOME=str(home),
                EXPLORER_SESSION_GRACE_S="2",
                EXPLORER_ALLOW_DOWNLOADS="0",
            )
            | env
        )
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> App:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    sys.executable,
                    "-m",
                    self.module,
                    "run",
                    "app.py",
                    "--server.port",
                    str(self.port),
                    "--server.address",
                    "127.0.0.1",
                    "--server.headless",
                    "true",
                    "--browser.gatherUsageStats",
                    "false",
                    *self.flags,
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        end = time.time() + 90
        while time.time() < end:
            assert self.proc.poll() is None, f"the app exited: {self.log.read_text()[-3000:]}"
            if self.healthy():
                return self
            time.sleep(0.3)
        raise AssertionError(f"the app did not answer /_stcore/health: {self.log.read_text()[-3000:]}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as r:
                return r.status == 200 and r.read().strip() == b"ok"
        except OSError:
            return False

    def kill(self) -> None:
        """`kill -9`: no cleanup runs."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tracebacks(self) -> list[str]:
        text = self.log.read_text(errors="replace")
        return [chunk[:1500] for chunk in text.split("Traceback (most recent call last)")[1:]]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "Debian's chromium is not installed: `apt-get install -y chromium` "
            "(the README's second command does it)."
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """One app for the suite (a test that kills it starts its own); its log must hold no traceback
    at the end."""
    tmp = tmp_path_factory.mktemp("app")
    a = App(tmp / "home", tmp / "app.log").start()
    yield a
    a.stop()
    assert not a.tracebacks(), "the app logged a traceback:\n" + "\n---\n".join(a.tracebacks())


@pytest.fixture
def page(browser, app):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(60_000)
    p.goto(app.url)
    settle(p)
    yield p
    context.close()


def settle(page, extra_ms: int = 500) -> None:
    """Wait until the page has a title and the script is no longer running. (Streamlit's status widget
    shows only after a run has taken a while, so its absence alone can pass while a run is still going.)"""
    page.wait_for_selector("[data-testid='stMain'] h1")
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", state="attached", timeout=120_000
    )
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(extra_ms)


def go(page, title: str) -> None:
    """Open a page from the sidebar, as a user does."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.wait_for_selector(f"[data-testid='stMain'] h1:has-text('{title}')")
    settle(page)


def errors(page) -> list[str]:
    """The error messages on the page; there must be no exception (traceback) element."""
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    return page.locator("[data-testid='stAlertContentError']").all_inner_texts()


def no_errors(page) -> None:
    found = errors(page)
    assert not found, found[0]


def table_cells(page) -> list[str]:
    """The text of every st.dataframe cell (the grid draws on a canvas; its accessible table has the text)."""
    return page.evaluate(
        "Array.from(document.querySelectorAll('[data-testid^=glide-cell]')).map(e => e.textContent)"
    )


def uploader(page, label: str):
    return page.locator("[data-testid='stFileUploader']").filter(has_text=label).locator("input[type=file]")


def shoot(page, name: str, part: str | None = None) -> Path:
    """A full-page screenshot: Streamlit scrolls inside its main block, so the window grows to it
    first. `part`: only the element this CSS selector finds (e.g. a keyed container)."""
    # toasts fade
    page.wait_for_function("!document.querySelector('[data-testid=\"stToast\"]')", timeout=15_000)
    out = Path(os.environ.get("E2E_SCREENSHOTS") or REPO / ".e2e-screenshots")
    out.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": 1400, "height": min(max(900, height), 6000)})
    page.wait_for_timeout(1500)  # charts re-flow to the new size
    path = out / f"{name}.png"
    (page.locator(part).first if part else page).screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


# ---- what the tests do on the pages, as a user does it


def epoch_shown(page) -> int:
    text = page.locator("[data-testid='stProgress']").inner_text()
    m = re.search(r"epoch (\d+)/", text)
    return int(m.group(1)) if m else -1


def wait_epoch(page, at_least: int, timeout: float = 120_000) -> None:
    """Until the progress bar shows epoch `at_least` or later."""
    page.wait_for_function(
        "n => +((document.querySelector('[data-testid=\"stProgress\"]')?.innerText || '')"
        ".match(/epoch (\\d+)\\//)?.[1] ?? -1) >= n",
        arg=at_least,
        timeout=timeout,
    )


def first_selectbox(page) -> str:
    """The first select box's label and chosen value."""
    box = page.locator("[data-testid='stSelectbox']").first
    return box.text_content() + " ".join(i.input_value() for i in box.locator("input").all())


def by_hand(page) -> None:
    """Options set by hand, so Start trains one run (left to auto, the first run on the data
    measures several)."""
    page.get_by_role("radio", name="rotate", exact=True).check(force=True)
    auto = page.get_by_role("radio", name="auto: chosen from the data")
    if auto.is_checked():
        page.get_by_role("radio", name="off: no edges").check(force=True)
    settle(page)


def set_number(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def photo_zip(classes=("apple", "banana"), n=12, size=32, seed=0) -> bytes:
    """source/<class>/*.png in colour, target/*.png as grey outlines: a two-domain zip."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, c in enumerate(classes):
            for i in range(n):
                img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                img[:, :, k % 3] = 255
                png = io.BytesIO()
                Image.fromarray(img).save(png, format="PNG")
                zf.writestr(f"source/{c}/{c}_{i}.png", png.getvalue())
        for i in range(n * len(classes)):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(png, format="PNG")
            zf.writestr(f"target/t_{i}.png", png.getvalue())
    return buf.getvalue()


def open_zip(page, data: bytes, name: str = "fruit.zip") -> None:
    go(page, "Data")
    page.get_by_text("Upload a zip", exact=True).click()
    settle(page)
    uploader(page, "Zip: both domains").set_input_files(
        {"name": name, "mimeType": "application/zip", "buffer": data}
    )
    page.wait_for_selector(f"[data-testid='stFileChipName']:has-text('{name}')")
    page.wait_for_function("!document.querySelector('[data-testid=\"stFileChip\"] [role=progressbar]')")
    settle(page, 1000)  # the upload has reached the server
    page.get_by_role("button", name="Open zip").click()
    page.wait_for_selector("[data-testid='stToast']:has-text('Loaded'), [data-testid='stAlertContentError']")
    settle(page)


def start_run(page, epochs: int, seed: int | None = None) -> None:
    go(page, "Train DANN")
    set_number(page, "Epochs", epochs)
    if seed is not None:
        set_number(page, "Seed", seed)
    set_number(page, "Batch size", 16)
    by_hand(page)
    page.get_by_role("button", name="Start training").click()


def text(page) -> str:
    return page.locator("[data-testid='stApp']").inner_text()
