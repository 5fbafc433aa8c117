"""Every page opens from the sidebar without an error; a zip dataset and a dropped image work."""

from tests.e2e.conftest import PAGES, go, no_errors, open_zip, photo_zip, settle, shoot, uploader


def test_every_page_opens_from_the_sidebar(page):
    for title in PAGES:
        go(page, title)
        no_errors(page)
        assert "sid=" in page.url  # the session id travels with the address
    go(page, "Data")
    shoot(page, "data")


def test_a_zip_dataset_uploaded_on_the_data_page_shows_its_classes(page):
    open_zip(page, photo_zip(("apple", "banana")))
    no_errors(page)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "fruit" in sidebar and "2 classes" in sidebar and "24 images" in sidebar
    assert "classes: apple, banana" in page.locator("[data-testid='stMain']").inner_text()


def test_an_image_dropped_on_layer_activations_shows_64_maps(page):
    go(page, "Layer Activations")
    # offline, the page opens on it anyway
    page.get_by_test_id("stRadioGroup").get_by_text("Random (not pretrained)").click()
    settle(page)
    from pathlib import Path

    import sklearn.datasets

    photo = Path(sklearn.datasets.__file__).parent / "images" / "china.jpg"
    uploader(page, "Drop an image").set_input_files(str(photo))
    page.wait_for_selector("text=china.jpg (640x427 RGB)")
    settle(page, 2000)
    no_errors(page)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "conv1: maps 0–63" in main and "conv1 weights: 64 kernels of 7x7" in main
    assert "random (not pretrained)" in main.lower()
    grids = page.locator("[data-testid='stImage'] img")
    assert grids.count() >= 4 and all(img.evaluate("i => i.naturalWidth") > 0 for img in grids.all())
    shoot(page, "activations")
