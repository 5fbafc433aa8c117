"""Transfer Fine-tune in a browser: a frozen backbone's head, then the whole network, compared."""

import os

from tests.e2e.conftest import go, no_errors, set_number, settle, shoot, table_cells


def test_fine_tune_the_head_then_everything_and_compare(page):
    # offline: it opens on random weights, labelled, and says what ImageNet needs
    go(page, "Transfer Fine-tune")
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "Weights in use: random (not pretrained)" in main and "this server does not download" in main
    assert page.get_by_role("button", name="Start fine-tuning").is_enabled()
    if not os.environ.get("E2E_SCREENSHOTS"):  # two epochs show the comparison; the README's picture has five
        set_number(page, "Epochs", 2)
    page.get_by_role("button", name="Start fine-tuning").click()
    page.wait_for_selector("text=state_dict: resnet18 · random · train head", timeout=180_000)
    page.get_by_text("everything", exact=True).click()
    settle(page)
    page.get_by_role("button", name="Start fine-tuning").click()
    page.wait_for_selector("text=state_dict: resnet18 · random · train everything", timeout=300_000)
    settle(page, 2000)
    no_errors(page)
    cells = table_cells(page)
    assert "resnet18 · random · train head" in cells and "resnet18 · random · train everything" in cells
    assert sum(c == "done" for c in cells) == 2
    # trainable parameters: resnet18's new 10-class head; everything (the canvas draws them as 5,130 and
    # 11,181,642; the grid's accessible cells, read here, hold the plain number)
    assert "5130" in cells and "11181642" in cells
    shoot(page, "finetune")
