"""Screenshot app pages in headless Debian chromium: python scripts/screenshots.py [URL] [OUTDIR].

Starts nothing: run `streamlit run app.py` (with a fresh EXPLORER_HOME) first. Each page named in
PAGES is opened, given time to finish drawing, and saved as OUTDIR/<page>.png (full page). The
Train DANN page is taken mid-training: the script presses Start and waits 15 s; Feature Space is
taken once that run has finished (same browser session: its id travels in the address).
"""
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

PAGES = {"data": "", "canny": "canny", "train": "train", "features": "features", "activations": "activations",
         "finetune": "finetune"}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def main(url: str = "http://localhost:8501", out: str = "docs/screenshots") -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        sid = ""
        for name, path in PAGES.items():
            if name == "features":
                page.wait_for_selector("text=/finished: \\d+ epochs/", timeout=300_000)
            page.goto(f"{url}/{path}{sid}")
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
            page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
            page.wait_for_timeout(2500)  # charts animate in
            sid = "?" + page.url.split("?", 1)[1] if "?" in page.url else sid
            if name == "train":
                page.get_by_role("button", name="Start training").click()
                page.wait_for_timeout(15_000)
            if name == "features":  # two checkpoints, three numbers each
                page.wait_for_function("document.querySelectorAll('[data-testid=\"stMetric\"]').length >= 6", timeout=180_000)
                page.wait_for_timeout(3000)
            if name == "activations":  # offline: random weights, labelled so; a photo scikit-learn ships
                import sklearn.datasets

                photo = Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"
                page.get_by_text("Random (not pretrained)").click()
                page.wait_for_timeout(2000)
                page.locator("input[type=file]").last.set_input_files(str(photo))
                page.wait_for_selector("text=china.jpg", timeout=60_000)
                page.wait_for_timeout(3000)
            if name == "finetune":  # two runs to compare: the head alone, then everything
                page.get_by_text("Random (not pretrained)").click()
                page.wait_for_timeout(2000)
                page.get_by_role("button", name="Start fine-tuning").click()
                page.wait_for_timeout(3000)
                page.get_by_text("everything").click()
                page.wait_for_timeout(2000)
                page.get_by_role("button", name="Start fine-tuning").click()
                page.wait_for_selector("text=state_dict: resnet18 · random · train none", timeout=240_000)
                page.wait_for_timeout(3000)
            # Streamlit scrolls inside its main block, so grow the window to the content's height.
            height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": 1400, "height": min(max(900, height), 6000)})
            page.wait_for_timeout(1000)
            page.screenshot(path=f"{out}/{name}.png")
            page.set_viewport_size({"width": 1400, "height": 900})
            print(f"{out}/{name}.png")
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
