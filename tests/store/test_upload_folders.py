"""Upload folders: one per Streamlit session, named by it, adopted by the next session, swept after
the session ends."""

import os
import time

from explorer.store import upload_folders


def test_folders_of_unnamed_sessions_are_separate(explorer_home):
    a, b = upload_folders.for_session(), upload_folders.for_session()
    assert a != b and a.parent == b.parent == explorer_home / "sessions"


def test_folders_are_named_by_the_session_and_swept_after_it_ends(explorer_home):
    live = upload_folders.for_session("0b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    ended = upload_folders.for_session("1b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    recent = upload_folders.for_session("2b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    assert live.name == "0b3c5d1e-aaaa-bbbb-cccc-123456789abc"
    # not a session id: a fresh name
    assert upload_folders.for_session("../../etc").parent == explorer_home / "sessions"
    (ended / "dropped").mkdir()
    (ended / "dropped" / "1.png").write_bytes(b"x")
    old = time.time() - 3600
    for d in (live, ended):
        os.utime(d, (old, old))
    removed = upload_folders.sweep_ended(lambda name: name == live.name, grace=600)
    assert ended in removed and not ended.exists()
    assert live.is_dir() and recent.is_dir()  # still connected; ended only moments ago
    assert time.time() - live.stat().st_mtime < 60  # seen alive: its grace period starts again
    upload_folders.touch(live)
    # every folder was used moments ago
    assert upload_folders.sweep_ended(lambda name: False, grace=600) == []
    assert upload_folders.sweep_ended(lambda name: False, grace=0) and not live.exists()


def test_a_new_session_adopts_what_an_ended_one_uploaded(explorer_home):
    old = upload_folders.for_session("0b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    new = upload_folders.for_session("1b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    (old / "unpacked" / "pets-0a1b2c3d4e5f").mkdir(parents=True)
    (old / "unpacked" / "pets-0a1b2c3d4e5f" / "a.png").write_bytes(b"x")
    moved = upload_folders.adopt(str(old / "unpacked" / "pets-0a1b2c3d4e5f"), new)
    assert moved == str(new / "unpacked" / "pets-0a1b2c3d4e5f") and (new / "unpacked").is_dir()
    assert not (old / "unpacked" / "pets-0a1b2c3d4e5f").exists()
    assert upload_folders.adopt(moved, new) == moved  # already its own: left where it is
    assert upload_folders.adopt("/elsewhere/x", new) == "/elsewhere/x"
    assert upload_folders.usage(new) == 1
