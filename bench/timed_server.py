"""`streamlit run`, timing each full script run from the server's side (for bench/bench_classroom.py).

    python -m bench.timed_server run app.py ...   (the same arguments as `streamlit run`)

Writes one JSON line per full run to $EXPLORER_BENCH_RUNS: the session, the page, the seconds from
the rerun request's arrival to the script's start (`queued`), from its start to its end as the event
loop sees it (`script`), and from there until its finished message is written to the browser's
socket (`sending`). A page switch's server part is their sum; what the browser adds (drawing) is what
the page's and the bench's clocks see beyond it. A fragment run (a watching page's poll) writes a line
with `"fragment": true`, counted so the bench can show that the watchers kept polling. Everything here
runs on the event loop's thread. Streamlit 1.67's internals (AppSession's and Runtime's handlers);
the app itself is untouched.
"""

from __future__ import annotations

import json
import os
import sys
import time

from streamlit.runtime.app_session import AppSession
from streamlit.runtime.runtime import Runtime
from streamlit.runtime.scriptrunner import ScriptRunnerEvent
from streamlit.web import cli

OUT = os.environ["EXPLORER_BENCH_RUNS"]
_asked: dict[str, float] = {}  # session -> when its last full rerun request arrived
_started: dict[str, tuple[float, str]] = {}  # session -> when its full run started, on which page
# session -> asked, started, ended, page: not yet sent
_ended: dict[str, tuple[float, float, float, str]] = {}


def _handle_backmsg(self, msg, _original=AppSession.handle_backmsg):
    if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
        _asked[self.id] = time.perf_counter()
    return _original(self, msg)


def _on_event(
    self,
    sender,
    event,
    msg=None,
    exc=None,
    state=None,
    page_hash=None,
    fragments=None,
    pages=None,
    *rest,
    _original=AppSession._handle_scriptrunner_event_on_event_loop,
):
    now = time.perf_counter()
    if (
        sender is not self._scriptrunner
    ):  # a runner shutting down: the session ignores its events, and so do we
        pass
    elif event == ScriptRunnerEvent.SCRIPT_STARTED and not fragments:
        info = (pages or {}).get(page_hash) or {}
        _started[self.id] = (now, info.get("page_name") or str(page_hash))
    elif event == ScriptRunnerEvent.FRAGMENT_STOPPED_WITH_SUCCESS:  # a watcher's poll: counted, not timed
        _write({"session": self.id, "fragment": True})
    elif event == ScriptRunnerEvent.SCRIPT_STOPPED_WITH_SUCCESS and self.id in _started:
        start, page = _started.pop(self.id)
        _ended[self.id] = (_asked.pop(self.id, start), start, now, page)
    return _original(self, sender, event, msg, exc, state, page_hash, fragments, pages, *rest)


def _send_message(self, info, msg, _original=Runtime._send_message):
    _original(self, info, msg)
    if msg.WhichOneof("type") == "script_finished" and info.session.id in _ended:
        asked, start, end, page = _ended.pop(info.session.id)
        _write(
            {
                "session": info.session.id,
                "page": page,
                "queued": max(0.0, start - asked),
                "script": end - start,
                "sending": time.perf_counter() - end,
            }
        )


def _write(line: dict) -> None:
    with open(OUT, "a") as f:
        f.write(json.dumps(line) + "\n")


AppSession.handle_backmsg = _handle_backmsg
Runtime._send_message = _send_message
AppSession._handle_scriptrunner_event_on_event_loop = _on_event

if __name__ == "__main__":
    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(cli.main())
