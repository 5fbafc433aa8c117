"""What an owner (the ``?sid`` in the address) keeps across Streamlit sessions: its choices
(reload, new tab, restart, deep link), their visible fallback, its uploads, and shared run links
(read-only, one run, revocable)."""

import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from explorer.dann import results
from explorer.dann.config import TrainConfig
from explorer.dann.trainer import train
from explorer.data.builtin import load_builtin
from explorer.store import cache, runs, shares
from tests.conftest import make_image_folder

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_app(sid=None, page=None, share=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if sid:
        at.query_params["sid"] = sid
    if share:
        at.query_params["share"] = share
    if page:
        at.switch_page(f"app_pages/{page}.py")
    return at.run()


def sidebar_dataset(at) -> str:
    return next(m.value for m in at.sidebar.markdown if m.value.startswith("**Dataset**"))


@pytest.fixture
def folders(tmp_path, local):
    make_image_folder(tmp_path / "src", classes=("apple", "banana"), per_class=4)
    make_image_folder(tmp_path / "tgt", classes=("apple", "banana"), per_class=3, mode="L")
    return tmp_path / "src", tmp_path / "tgt"


def choose_folders(at, src, tgt, size=28):
    at.switch_page("app_pages/data.py").run()
    at.radio(key="data_choice").set_value("Folder on this server").run()
    at.selectbox(key="data_size").set_value(size).run()
    at.text_input[0].input(str(src)).run()
    at.text_input[1].input(str(tgt)).run()
    next(b for b in at.button if b.label == "Open").click().run()
    assert not at.exception and not at.error
    return at


def test_dataset_size_and_thresholds_survive_reload_new_tab_restart_and_deep_link(folders):
    at = choose_folders(open_app(), *folders)
    sid = at.query_params["sid"]
    assert "2 classes" in at.sidebar.caption[0].value and "28x28 px" in at.sidebar.caption[0].value
    at.switch_page("app_pages/canny.py").run()
    at.slider(key="canny_range").set_value((40, 90)).run()
    next(b for b in at.button if b.label == "Use these thresholds for training instead").click().run()
    chosen = sidebar_dataset(at)

    again = open_app(sid)  # a reload, or a new tab with the same address
    assert sidebar_dataset(again) == chosen and "28x28 px" in again.sidebar.caption[0].value
    assert (
        again.selectbox(key="data_size").value == 28
        and again.radio(key="data_choice").value == "Folder on this server"
    )
    st.cache_resource.clear()  # the app restarting: nothing left in memory, only what is on disk
    st.cache_data.clear()
    deep = open_app(sid, page="canny")  # a deep link to another page
    assert sidebar_dataset(deep) == chosen
    assert any("Training uses Canny 40/90 on the source" in c.value for c in deep.caption)
    assert sidebar_dataset(open_app()) != chosen  # another owner starts on the embedded default


def test_thresholds_tuned_on_one_dataset_are_dropped_when_another_is_chosen(folders):
    at = open_app(page="canny")
    at.slider(key="canny_range").set_value((40, 90)).run()
    next(b for b in at.button if b.label == "Use these thresholds for training instead").click().run()
    assert at.session_state["canny"] == (40, 90)
    choose_folders(at, *folders)
    assert at.session_state["canny"] == "auto"
    assert any("40/90 were tuned on the previous dataset" in t.value for t in at.toast)
    at.switch_page("app_pages/canny.py").run()
    assert any(c.value == "Training uses auto." for c in at.caption)


def test_a_dataset_that_is_gone_falls_back_visibly(folders):
    sid = choose_folders(open_app(), *folders).query_params["sid"]
    shutil.rmtree(folders[0])
    at = open_app(sid)
    assert "builtin" in sidebar_dataset(at)
    assert "could not be opened again" in at.warning[0].value and "is no longer there" in at.warning[0].value
    assert "embedded default" in at.warning[0].value and not at.exception
    assert not open_app(sid).warning  # said once; the choice is forgotten


@pytest.fixture
def finished_runs():
    """Two finished runs on the embedded data (32 px), of one owner."""
    sid = "0123456789abcdef0123456789abcdef"
    data = load_builtin(32)
    made = []
    for seed in (1, 2):
        config = TrainConfig(width=0.125, epochs=1, seed=seed)
        run_dir = cache.run_dir(config.run_id(data.fingerprint, "cpu"))
        train(config, data, run_dir)
        runs.add_owner(run_dir, sid)
        made.append(runs.read_run(run_dir))
    return sid, made


def test_the_run_being_looked_at_is_remembered(finished_runs):
    sid, made = finished_runs
    at = open_app(sid, page="features")
    second = next(label for label in at.selectbox(key="f_run").options if made[1].run_id[:6] in label)
    at.selectbox(key="f_run").set_value(second).run()
    assert open_app(sid, page="features").selectbox(key="f_run").value == second
    assert made[1].run_id[:6] in open_app(sid, page="train").selectbox(key="t_download_run").value


def test_one_selected_run_on_every_page_of_a_session_and_in_its_address(finished_runs):
    sid, made = finished_runs
    at = open_app(sid, page="train")
    first = next(o for o in at.selectbox(key="t_download_run").options if made[0].short_id in o)
    at.selectbox(key="t_download_run").set_value(first).run()
    assert at.query_params["run"] == made[0].run_id
    at.switch_page("app_pages/features.py").run()  # the same Streamlit session, another page
    assert made[0].short_id in at.selectbox(key="f_run").value
    second = next(o for o in at.selectbox(key="f_run").options if made[1].short_id in o)
    at.selectbox(key="f_run").set_value(second).run()
    at.switch_page("app_pages/train.py").run()
    # changed on Feature Space, seen on Train DANN
    assert made[1].short_id in at.selectbox(key="t_download_run").value
    assert at.query_params["run"] == made[1].run_id
    shared = next(e for e in at.expander if "Share this run" in e.label)
    assert shared  # the share box belongs to the selected run: its button is keyed by that run's id
    assert any(b.key == f"share_{made[1].run_id}" for b in at.button)


def test_a_link_to_a_run_opened_on_the_data_page_keeps_that_run_after_a_page_switch(finished_runs):
    sid, made = finished_runs
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(sid=sid, run=made[0].run_id)  # the older run: the newest would be the fallback
    at.run()  # the Data page, which shows no run
    at.query_params.pop("run", None)  # what a switch in the sidebar does to the address
    at.switch_page("app_pages/features.py").run()
    assert made[0].short_id in at.selectbox(key="f_run").value
    assert at.query_params["run"] == made[0].run_id


def test_a_share_link_opens_one_run_read_only_and_can_be_revoked(finished_runs):
    sid, made = finished_runs
    owner = open_app(sid, page="train")
    owner.selectbox(key="t_download_run").set_value(
        next(o for o in owner.selectbox(key="t_download_run").options if made[0].run_id[:6] in o)
    ).run()
    next(b for b in owner.button if b.label == "Create a link").click().run()
    (token,) = shares.shares_of(made[0].run_id, sid)
    assert any(c.value.endswith(f"/?share={token}") for c in owner.code)
    assert made[0].run_id not in token and len(token) == 22  # random, not derived from the run

    viewer = open_app(share=token)  # another browser: its own owner id
    assert viewer.query_params["sid"] != sid and not viewer.exception and not viewer.error
    assert "A shared run, read-only" in viewer.info[0].value and viewer.subheader[0].value == made[0].label
    labels = {b.label for b in viewer.button}
    assert not labels & {"Start training", "Stop", "Remove them", "Create a link", "Revoke"}
    # the run's one number, as its owner sees it: the accuracy it ships, and the epoch it comes from
    shipped = results.shipped(made[0].metrics)
    assert viewer.metric[0].label == "target accuracy"
    assert viewer.metric[0].value == results.percent(shipped.target_acc)
    table = viewer.dataframe[0].value
    assert list(table["target accuracy"]) == [results.percent_value(shipped.target_acc)]
    assert list(table["at epoch"]) == [shipped.epoch]
    viewer.switch_page("app_pages/features.py").run()
    assert viewer.selectbox(key="f_run").options == [made[0].label]  # that run and nothing else
    viewer.switch_page("app_pages/activations.py").run()
    assert viewer.selectbox(key="a_model").options == [f"DANN run: {made[0].label}"]

    assert "No such shared run" in open_app(share="x" * 22).error[0].value  # made up
    next(b for b in owner.button if b.label == "Revoke").click().run()
    assert shares.shared(token) is None
    assert "No such shared run" in open_app(share=token).error[0].value


def test_a_share_of_a_run_on_the_owners_own_images_shows_none_of_them(folders):
    from explorer.data.domains import open_dataset

    sid = "fedcba9876543210fedcba9876543210"
    data = open_dataset(str(folders[0]), str(folders[1]), size=32)
    config = TrainConfig(width=0.125, epochs=1, batch_size=4)
    run_dir = cache.run_dir(config.run_id(data.fingerprint, "cpu"))
    train(config, data, run_dir)
    runs.add_owner(run_dir, sid)
    recipe = {
        "kind": "folders",
        "what": "uploaded zip",
        "source": str(folders[0]),
        "target": str(folders[1]),
        "size": 32,
    }
    token = shares.share(runs.read_run(run_dir).run_id, sid, recipe)
    viewer = open_app(share=token, page="features")
    viewer.selectbox(key="f_method").set_value("pca").run()  # 8 + 6 images: too few for t-SNE
    assert not viewer.exception and not viewer.error, [e.value for e in viewer.error]
    assert len(viewer.get("vega_lite_chart")) >= 1
    # no coordinates (file names), no projector (thumbnails)
    assert not viewer.get("download_button")
    viewer.switch_page("app_pages/activations.py").run()
    assert not viewer.exception and "a_sample" not in [n.key for n in viewer.number_input]
    assert any("Drop an image of your own" in i.value for i in viewer.info)


def test_an_uploaded_zip_comes_back_after_its_old_session_folder_is_swept(tmp_path):
    from explorer.store.home import subdir
    from tests.conftest import zip_folder

    data = zip_folder(
        make_image_folder(tmp_path / "z", ("cat", "dog"), per_class=3), tmp_path / "pets.zip", "source/"
    )
    make_image_folder(tmp_path / "zt", ("cat", "dog"), per_class=2, mode="L")
    with __import__("zipfile").ZipFile(data, "a") as zf:
        for p in sorted((tmp_path / "zt").rglob("*.png")):
            zf.write(p, "target/" + p.relative_to(tmp_path / "zt").as_posix())
    at = open_app(page="data")
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("pets.zip", data.read_bytes(), "application/zip").run()
    next(b for b in at.button if b.label == "Open zip").click().run()
    assert not at.exception and not at.error
    sid, first = at.query_params["sid"], at.session_state.session_dir
    chosen = sidebar_dataset(at)

    again = open_app(sid)  # a reload: a new Streamlit session, with its own upload folder
    assert sidebar_dataset(again) == chosen and not again.warning
    moved = again.session_state.session_dir
    # the upload now lives in the new session's folder
    assert moved != first and list((moved / "unpacked").iterdir())
    shutil.rmtree(first, ignore_errors=True)  # housekeeping removes the ended session's folder
    assert sidebar_dataset(open_app(sid)) == chosen  # and a later visit still finds it
    assert subdir("sessions") in moved.parents


def test_a_share_of_uploaded_data_outlives_the_owners_upload_folder(tmp_path):
    src = make_image_folder(tmp_path / "sessions_like" / "src", ("cat", "dog"), per_class=3)
    tgt = make_image_folder(tmp_path / "sessions_like" / "tgt", ("cat", "dog"), per_class=2, mode="L")
    recipe = {"kind": "folders", "what": "uploaded zip", "source": str(src), "target": str(tgt), "size": 32}
    token = shares.share("somerun", "0123456789abcdef0123456789abcdef", recipe)
    own = shares.shared(token)["dataset"]
    assert own["source"] != str(src) and token in own["source"]
    shutil.rmtree(tmp_path / "sessions_like")  # the owner's upload folder moved away or swept
    assert sorted(p.name for p in Path(own["source"]).rglob("*.png")) == sorted(
        f"{i:03d}.png" for i in range(3) for _ in range(2)
    )
    assert shares.revoke(token, "0123456789abcdef0123456789abcdef") and not Path(own["source"]).exists()
