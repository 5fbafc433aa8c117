"""The app under AppTest: a fresh app per test, the page helpers every page test uses, and where the
browser runs (for the pages that depend on it: folders on the server)."""

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def at():
    return AppTest.from_file(APP, default_timeout=120).run()


def page(at, name):
    return at.switch_page(f"app_pages/{name}.py").run()


def button(at, label):
    return next(b for b in at.button if b.label == label)


def wait_for(at, done, timeout=180):
    """Rerun the page (as the polling fragment would) until `done(at)` or the timeout."""
    end = time.time() + timeout
    while time.time() < end:
        at.run()
        if done(at):
            return at
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the training job")


def compare_table(at):
    """The comparison's table of final numbers (the page also shows the validators' table)."""
    return next(d.value for d in at.dataframe if "epochs" in d.value.columns)


# the validators' names and the raw metric keys a page must not show bare (`validators.named` gives
# the plain words, with the field's abbreviation in brackets)
ABBREVIATIONS = re.compile(r"\b(im|bnm|snd|source_acc|target_acc|domain_acc)\b", re.IGNORECASE)


def unexplained(at) -> list[str]:
    """The texts of Train DANN's run panels (markdown, captions, alerts, tiles, tables' headers and
    validator names, the checkpoint choices; not the Sweep tab's form) that show a validator's
    abbreviation or a raw metric key without its plain name."""
    from explorer.dann import validators

    kinds = ("markdown", "caption", "success", "warning", "info")
    form = {id(e) for t in at.tabs if t.label == "Sweep" for kind in kinds for e in t.get(kind)}
    texts = [e.value for kind in kinds for e in at.get(kind) if id(e) not in form]
    texts += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    for frame in (d.value for d in at.dataframe):
        texts += [str(c) for c in frame.columns] + [str(v) for v in frame.get("validator", [])]
    texts += [str(o) for s in at.selectbox if s.key == "t_select" for o in s.options]
    named = [validators.named(n) for n in validators.NAMES]
    return [t for t in texts if ABBREVIATIONS.search(_without(t, named))]


def _without(text: str, names: list[str]) -> str:
    for name in names:
        text = text.replace(name, "")
    return text


def small_run(at, epochs=2, seed=0):
    """One quick run with its options set by hand (auto would measure several: tests/app/test_auto.py).
    Every test has its own EXPLORER_HOME, so a fixed seed trains a fresh run."""
    at.radio(key="t_augment").set_value("rotate")
    if at.radio(key="t_prep").value.startswith("auto"):
        at.radio(key="t_prep").set_value("off: no edges")
    at.number_input(key="t_epochs").set_value(epochs)
    at.select_slider(key="t_width").set_value(0.125)
    at.number_input(key="t_seed").set_value(seed)
    return at


def _browser(monkeypatch, is_local: bool) -> None:
    from app_pages.lib import datasets, session

    monkeypatch.delenv("EXPLORER_DATA_ROOT", raising=False)
    for module in (session, datasets):
        monkeypatch.setattr(module, "browser_is_local", lambda: is_local)


@pytest.fixture
def local(monkeypatch):
    """The browser on the server machine itself (the teacher's); AppTest's own connection looks remote."""
    _browser(monkeypatch, True)


@pytest.fixture
def remote(monkeypatch):
    """The browser on another machine than the server (a student's)."""
    _browser(monkeypatch, False)
