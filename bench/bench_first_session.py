"""The README's first session, timed: a real browser plays it on a fresh app and each wait is printed.

    python -m bench.bench_first_session [--port 8501] [--headed] [--screenshots DIR]

A benchmark, not a timed test: nothing here fails on a slow machine. The app starts on its embedded
data with a fresh home (EXPLORER_HOME and TORCH_HOME in a new temporary folder), `streamlit run app.py`
on a free port (or `--port`); Debian's chromium (Playwright's sync API) plays the session the README
describes, the same steps as tests/e2e/test_first_session.py (tests/e2e/session.py), with every
default (40 epochs):

    1. start the app                      5. λ = 1, Start again        WAIT 2: until it has finished
    2. Data (it opens there)              6. its source-only twin      WAIT 3: until the verdict shows
    3. Canny Tuner: Use auto (default)    7. Sweep, the default grid   WAIT 4: until every run has ended
    4. Train DANN, Start: WAIT 1 until    8. Feature Space             WAIT 5: until the t-SNE plots show
       auto has measured and shipped      9. Layer Activations         WAIT 6: until the first maps show

Each wait runs from the click until the page shows the answer. Printed: a markdown table of the steps,
their waits and what the page said about time (the progress bars' time left, first and last phrase
seen, and the sweep form's estimate before Start), then the whole session's time from the app's start
to the last step's answer and the sum of waits 1-6. `--screenshots DIR`: a PNG of the window
(1400x1000) after each step.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e import session as S
from tests.e2e.conftest import CHROMIUM_ARGS, App

CHROMIUM = "/usr/bin/chromium"
WINDOW = {"width": 1400, "height": 1000}


@dataclass
class Row:
    step: str
    seconds: float
    said: str = ""
    wait: int | None = None  # WAIT 1-6; None: a page load or the app's start, outside the sum


def play(page, url: str, shot) -> list[Row]:
    """The session's steps 2-9 in the README's order; `shot(name, part)` after each, the answer in view."""
    rows = [Row("2. Data (page load)", S.open_app(page, url).seconds)]
    shot("2-data")
    rows.append(
        Row("3. Canny Tuner: open, Use auto (page load)", S.use_auto(page).seconds, "Training uses auto")
    )
    shot("3-canny")
    w = S.start_default(page)
    rows.append(Row("4. Train DANN: Start, defaults (measures, ships)", w.seconds, _options(w), 1))
    shot("4-measured", ".st-key-this_run")
    w = S.start_lambda(page, 1)
    shown = "time left shown: " + ("yes" if w.left else "no")
    rows.append(Row("5. λ = 1, Start (one run)", w.seconds, f"{shown}; {w.said()}", 2))
    shot("5-lambda-1", ".st-key-this_run")
    run = S.selected_id(page)
    w = S.train_twin(page, run)
    rows.append(Row("6. Train the source-only twin (until the verdict)", w.seconds, w.said(), 3))
    shot("6-twin", f"text=/{run}: DANN probably/")
    w, estimate = S.run_sweep(page)
    rows.append(
        Row("7. Sweep: default grid (until every run ended)", w.seconds, f"form: {estimate}; {w.said()}", 4)
    )
    shot("7-sweep", ".st-key-sweep_results")
    w = S.feature_space(page)
    plots = page.locator("[data-testid='stVegaLiteChart']").count()
    rows.append(Row("8. Feature Space (until the t-SNE plots show)", w.seconds, f"{plots} plots", 5))
    shot("8-features", "[data-testid='stVegaLiteChart']")
    w = S.layer_activations(page)
    rows.append(Row("9. Layer Activations (until the maps show)", w.seconds, S.first_maps(page), 6))
    shot("9-activations", "text=/: maps 0–/")
    return rows


def _options(w: S.Waited) -> str:
    """How many options the measuring run trained side by side, as its progress said, and the time left."""
    counts = {m.group(1) for p in w.progress if (m := re.search(r"over (\d+) options side by side", p))}
    return f"{', '.join(sorted(counts)) or '?'} options side by side; {w.said()}"


def session(args) -> tuple[list[Row], float]:
    """A fresh app and a fresh browser, the whole session; the rows and the session's seconds from the
    app's start."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="first-session-"))
    app = App(tmp / "home", tmp / "app.log", TORCH_HOME=str(tmp / "torch"))
    if args.port:
        app.port, app.url = args.port, f"http://127.0.0.1:{args.port}"
    start = time.perf_counter()
    app.start()
    rows = [Row("1. Start the app (until it answers)", time.perf_counter() - start)]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=not args.headed
            )
            page = browser.new_context(viewport=WINDOW).new_page()
            page.set_default_timeout(120_000)
            rows += play(page, app.url, _shooter(page, args.screenshots))
            total = time.perf_counter() - start
            browser.close()
    finally:
        app.stop()
        print(f"app log: {app.log}")
    if app.tracebacks():
        print("The app logged a traceback:\n" + "\n---\n".join(app.tracebacks()))
    return rows, total


def _shooter(page, folder: str | None):
    def shot(name: str, part: str | None = None) -> None:
        """The window (1400x1000), scrolled to `part` (a selector: where the step's answer shows)."""
        if folder:
            if part:
                page.locator(part).first.scroll_into_view_if_needed()
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"))

    return shot


def table(rows: list[Row], total: float) -> str:
    lines = ["| step | wait (s) | what the page said about time |", "|---|---:|---|"]
    lines += [f"| {r.step} | {r.seconds:.1f} | {r.said} |" for r in rows]
    waits = sum(r.seconds for r in rows if r.wait)
    return "\n".join(
        [
            *lines,
            "",
            f"Whole session, from the app's start: {total:.0f} s ({total / 60:.1f} min).",
            f"Sum of waits 1-6: {waits:.0f} s ({waits / 60:.1f} min).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="the app's port (default: a free one)")
    parser.add_argument("--headed", action="store_true", help="show the browser window")
    parser.add_argument("--screenshots", metavar="DIR", help="a PNG of the window after each step")
    args = parser.parse_args()
    rows, total = session(args)
    print(table(rows, total))


if __name__ == "__main__":
    main()
