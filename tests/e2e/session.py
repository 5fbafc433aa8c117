"""The README's first session as the steps a browser plays on a fresh app, shared by
tests/e2e/test_first_session.py (which checks what each step answered) and
bench/bench_first_session.py (which times each wait).

Each step clicks as a user does and returns what it waited for: the seconds from the click until the
page showed the answer, and what the progress bars said meanwhile (the time left, "about 40 s left").
The clock stops when the answer shows; the page then settles, untimed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from tests.e2e.conftest import go, set_number, settle

SHORT_ID = re.compile(r"· ([0-9a-f]{6})\b")
LEFT = re.compile(r"(?:a few seconds|about [\d.]+ (?:s|min|h)) left")
ESTIMATE = re.compile(r"(\d+ runs \(\d+ already trained\)) · (about .+?) and ")
TIMEOUT_S = 1800.0  # a step that takes longer has gone wrong
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


@dataclass
class Waited:
    """One wait: its seconds, the progress texts seen (in order), the time-left phrases seen with when
    each first showed (seconds after the click), and where `mark` first showed (its y, if asked)."""

    seconds: float
    progress: list[str] = field(default_factory=list)
    left: list[tuple[float, str]] = field(default_factory=list)
    mark_y: float | None = None

    def said(self) -> str:
        """The time left as the page said it, in words for the bench's table."""
        if not self.left:
            return "no time left shown"
        (t0, first), (t1, last) = self.left[0], self.left[-1]
        more = f"; last '{last}' at {t1:.0f} s" if len(self.left) > 1 else ""
        return f"first '{first}' at {t0:.0f} s{more}"


def watch(page, done: list, start: float, timeout_s: float = TIMEOUT_S, mark=None) -> Waited:
    """Polls until every locator in `done` finds something; records the progress texts meanwhile. Fails
    at once on a traceback or an error message on the page. `mark`: a locator whose first position is
    kept (a progress drawn beside its button)."""
    w = Waited(0.0)
    while True:
        now = time.perf_counter() - start
        for text in page.locator("[data-testid='stProgress']").all_inner_texts():
            if text not in w.progress:
                w.progress.append(text)
            for phrase in LEFT.findall(text):
                if phrase not in (p for _, p in w.left):
                    w.left.append((now, phrase))
        if mark is not None and w.mark_y is None and mark.count():
            w.mark_y = (mark.first.bounding_box() or {}).get("y")
        bad = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
        assert bad.count() == 0, bad.first.inner_text()
        if all(d.count() for d in done):
            w.seconds = time.perf_counter() - start
            return w
        assert now < timeout_s, f"not done after {timeout_s:.0f} s; the progress said {w.progress[-3:]}"
        page.wait_for_timeout(300)


def selected_label(page, label: str = "Selected run") -> str:
    """The chosen value of the select box called `label` (a run: its label, ending in its id)."""
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label).first
    return " ".join(i.input_value() for i in box.locator("input").all()) + " " + (box.text_content() or "")


def selected_id(page, label: str = "Selected run") -> str:
    """The six-character run id in the select box called `label`."""
    found = SHORT_ID.findall(selected_label(page, label))
    assert found, selected_label(page, label)
    return found[0]


# ---- the steps, in the README's order


def open_app(page, url: str) -> Waited:
    """Step 2: the app's address; it opens on Data."""
    start = time.perf_counter()
    page.goto(url)
    settle(page, 0)
    return Waited(time.perf_counter() - start)


def use_auto(page) -> Waited:
    """Step 3: Canny Tuner, and its primary button: auto for training."""
    start = time.perf_counter()
    go(page, "Canny Tuner")
    opened = time.perf_counter() - start
    page.get_by_role("button", name="Use auto for training (the default)").click()
    page.wait_for_selector("[data-testid='stToast']:has-text('Train DANN will choose the preprocessing')")
    settle(page)
    return Waited(opened)


def start_default(page, epochs: int | None = None, timeout_s: float = TIMEOUT_S) -> Waited:
    """Step 4: Train DANN's Start with every default (`epochs`: fewer, for a short test). The first run
    on the data measures the options side by side; done when auto has chosen and the run has shipped."""
    go(page, "Train DANN")
    if epochs is not None:
        set_number(page, "Epochs", epochs)
    start = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    ok = page.locator(".st-key-this_run [data-testid='stAlertContentSuccess']")
    w = watch(page, [ok.filter(has_text="auto chose"), ok.filter(has_text=": measured.")], start, timeout_s)
    page.wait_for_selector("text=Selected run", timeout=120_000)  # the whole page, with the comparison
    settle(page, 1500)
    return w


def start_lambda(page, lamb: float = 1, timeout_s: float = TIMEOUT_S) -> Waited:
    """Step 5: λ = `lamb`, Start again: auto's choice is reused and one run trains."""
    set_number(page, "λ (the schedule's maximum)", lamb)
    start = time.perf_counter()
    page.get_by_role("button", name="Start training").click()
    finished = page.locator(".st-key-this_run [data-testid='stAlertContentSuccess']").filter(
        has_text="finished:"
    )
    w = watch(page, [finished], start, timeout_s)
    settle(page, 1500)
    return w


def twin_button(page, run: str):
    """The button that trains the source-only twin of run `run` (its six-character id)."""
    return page.locator(f"[class*='st-key-twin_{run}'] button")


def train_twin(page, run: str, timeout_s: float = TIMEOUT_S) -> Waited:
    """Step 6: the run's source-only twin, from its button under the comparison; done when the verdict
    (did DANN probably help?) shows. Waited.mark_y: where the twin's progress first showed."""
    button = twin_button(page, run)
    button.scroll_into_view_if_needed()
    start = time.perf_counter()
    button.click()
    verdict = page.get_by_text(re.compile(rf"{run}: DANN probably (helped|hurt)"))
    w = watch(page, [verdict], start, timeout_s, mark=page.locator("text=/the twin of/"))
    settle(page, 1500)
    return w


def sweep_estimate(page) -> str:
    """The Sweep tab's run count and time estimate, as its form says them before Start."""
    page.get_by_role("tab", name="Sweep").click()
    caption = page.locator("[data-testid='stCaptionContainer']").filter(has_text=ESTIMATE).first
    found = ESTIMATE.search(caption.inner_text())
    assert found, caption.inner_text()
    return f"{found.group(1)} · {found.group(2)}"


def run_sweep(page, timeout_s: float = TIMEOUT_S) -> tuple[Waited, str]:
    """Step 7: the Sweep tab's default grid; done when every run has ended (the panel's verdict).
    Returns the wait and the form's estimate before Start."""
    estimate = sweep_estimate(page)
    start = time.perf_counter()
    page.get_by_role("button", name="Start sweep").click()
    ended = page.locator(".st-key-sweep_results").get_by_text(
        re.compile("Without labels|Every run has ended")
    )
    w = watch(page, [ended], start, timeout_s)
    # the job says it has ended a poll after its last run's results (untimed: the answer is shown)
    finished = page.locator(".st-key-sweep_results").get_by_text(re.compile(r"Sweep finished: \d+ runs"))
    finished.first.wait_for(timeout=60_000)
    settle(page, 1500)
    return w, estimate


def arrive(page, title: str, done: list, timeout_s: float = TIMEOUT_S) -> Waited:
    """Open a page from the sidebar; done when its script has ended and `done` shows."""
    start = time.perf_counter()
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.wait_for_selector(f"[data-testid='stMain'] h1:has-text('{title}')", timeout=timeout_s * 1000)
    w = watch(page, [page.locator(IDLE), *done], start, timeout_s)
    settle(page, 1000)
    return w


def feature_space(page, timeout_s: float = TIMEOUT_S) -> Waited:
    """Step 8: Feature Space on the selected run; done when its t-SNE plots show, numbers under them."""
    plots = page.locator("[data-testid='stVegaLiteChart']")
    points = page.get_by_text(re.compile(r"[\d,]+ source \+ [\d,]+ target points"))
    return arrive(page, "Feature Space", [plots, points], timeout_s)


def layer_activations(page, timeout_s: float = TIMEOUT_S) -> Waited:
    """Step 9: Layer Activations on the selected run; done when the first layer's maps show."""
    return arrive(page, "Layer Activations", [page.get_by_text(re.compile(r": maps 0–\d+"))], timeout_s)


def first_maps(page) -> str:
    """The first map grid's caption, in short: ``conv.0: 16 maps``."""
    text = page.get_by_text(re.compile(r": maps 0–\d+")).first.inner_text()
    found = re.search(r"([\w.]+): maps 0–(\d+)", text)
    return f"{found.group(1)}: {int(found.group(2)) + 1} maps" if found else text
