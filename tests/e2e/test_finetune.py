"""Transfer Fine-tune in a browser: a frozen backbone's head, then the whole network, compared."""

import os

from tests.e2e.conftest import go, no_errors, settle, shoot, table_cells
from tests.e2e.test_training import set_number


def test_fine_tune_the_head_then_everything_and_compare(page):
    go(page, "Transfer Fine-tune")
    page.get_by_text("Random (not pretrained)").click()  # offline: no ImageNet weights here, and it says so
    settle(page)
    assert "ImageNet" in page.locator("[data-testid='stMain']").inner_text()
    if not os.environ.get("E2E_SCREENSHOTS"):  # two epochs show the comparison; the README's picture has five
        set_number(page, "Epochs", 2)
    page.get_by_role("button", name="Start fine-tuning").click()
    page.wait_for_selector("text=state_dict: resnet18 · random · train head", timeout=180_000)
    page.get_by_text("everything", exact=True).click()
    settle(page)
    page.get_by_role("button", name="Start fine-tuning").click()
    page.wait_for_selector("text=state_dict: resnet18 · random · train none", timeout=300_000)
    settle(page, 2000)
    no_errors(page)
    cells = table_cells(page)
    assert "resnet18 · random · train head" in cells and "resnet18 · random · train none" in cells
    assert sum(c == "done" for c in cells) == 2
    assert "5130" in cells and "11181642" in cells  # trainable parameters: resnet18's new 10-class head; everything
    shoot(page, "finetune")
