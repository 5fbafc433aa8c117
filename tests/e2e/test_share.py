"""Coming back: a reload and a restarted server keep the session's dataset and thresholds; a run
shared by link opens read-only in another browser, and a made-up or revoked link is refused."""

from tests.conftest import make_image_folder
from tests.e2e.conftest import App, by_hand, first_selectbox, go, no_errors, set_number, settle, shoot


def test_a_shared_run_opens_read_only_in_another_browser_until_revoked(page, browser, app):
    go(page, "Train DANN")
    set_number(page, "Epochs", 2)
    by_hand(page)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector("[data-testid='stAlertContentSuccess']", timeout=120_000)
    settle(page, 1500)
    page.get_by_text("Share this run: a read-only link").click()
    page.get_by_role("button", name="Create a link").click()
    page.wait_for_selector("[data-testid='stCode']:has-text('share=')")
    settle(page)
    link = page.locator("[data-testid='stCode']").filter(has_text="share=").first.inner_text().strip()
    shoot(page, "train_share", part="[data-testid='stExpander']:has-text('Share this run')")
    assert link.startswith(app.url + "/?share="), link

    viewer = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    viewer.set_default_timeout(60_000)
    viewer.goto(link)
    settle(viewer, 1500)
    no_errors(viewer)
    main = viewer.locator("[data-testid='stMain']").inner_text()
    assert "A shared run, read-only" in main and "dann λ=0.1 constant" in main
    run_label = viewer.locator("[data-testid='stMain'] h3").first.inner_text().strip()
    nav = viewer.locator("[data-testid='stSidebarNav']").inner_text()
    assert (
        "Feature Space" in nav
        and "Layer Activations" in nav
        and "Data" not in nav
        and "Canny Tuner" not in nav
    )
    for name in ("Start training", "Stop", "Clear my cached runs", "Create a link", "Revoke"):
        assert viewer.get_by_role("button", name=name).count() == 0, name
    assert "sid=" in viewer.url and viewer.url.split("sid=")[1][:32] not in page.url  # a session of its own
    shoot(viewer, "shared_run")
    go(viewer, "Feature Space")
    viewer.wait_for_selector("[data-testid='stMetric']", timeout=240_000)
    settle(viewer)
    no_errors(viewer)
    assert run_label in first_selectbox(viewer)  # the shared run, and only it (its select box has one option)

    viewer.goto(app.url + "/?share=" + "x" * 22)
    viewer.wait_for_selector("text=No such shared run")
    page.get_by_role("button", name="Revoke").click()
    settle(page)
    viewer.goto(link)
    viewer.wait_for_selector("text=No such shared run")
    viewer.context.close()


def test_a_reload_and_a_restart_keep_the_dataset_and_thresholds(browser, tmp_path):
    src = make_image_folder(
        tmp_path / "data" / "src", classes=("apple", "banana", "cherry"), per_class=4, size=(24, 24)
    )
    tgt = make_image_folder(
        tmp_path / "data" / "tgt", classes=("apple", "banana", "cherry"), per_class=3, size=(24, 24), mode="L"
    )
    app = App(tmp_path / "home", tmp_path / "app.log").start()
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app.url)
        settle(page)
        go(page, "Data")
        page.get_by_text("Folder on this server", exact=True).click()
        settle(page)
        page.get_by_label("Source folder or .zip").fill(str(src))
        page.get_by_label("Target folder or .zip (empty when the source folder holds both domains)").fill(
            str(tgt)
        )
        page.keyboard.press("Tab")
        settle(page)
        page.get_by_test_id("stBaseButton-primary").filter(has_text="Open").click()
        page.wait_for_selector("[data-testid='stSidebar'] >> text=3 classes")
        go(page, "Canny Tuner")
        page.get_by_role("button", name="Use these thresholds for training instead").click()
        page.wait_for_selector("text=/Training uses Canny \\d+\\/\\d+ on the source/")
        thresholds = page.locator("text=/Training uses Canny/").first.inner_text()
        address = page.url

        for restart in (False, True):
            if restart:
                app.stop()
                app.start()
            page.goto(address)  # a reload (then the server restarted): the same address, the same session id
            settle(page, 1000)
            no_errors(page)
            assert "3 classes" in page.locator("[data-testid='stSidebar']").inner_text()
            assert page.locator("text=/Training uses Canny/").first.inner_text() == thresholds
        assert not app.tracebacks()
    finally:
        page.context.close()
        app.stop()
