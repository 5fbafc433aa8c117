"""A class on one server: does training keep its speed while many browsers watch? (docs/BENCHMARKS.md)

    python -m bench.bench_classroom [--sessions 0,1,4,8,16] [--epochs 10] [--gc off,on] [--minutes 0]
                                    [--watchers-nice 19]

The server runs on the embedded default, pinned to core 0 (`taskset`), under bench/timed_server.py
(`streamlit run`, timing each script run from the server's side); this script and the chromiums it
drives are pinned to core 1, as in a class the browsers run on the students' machines. The watching
students' chromium runs at nice 19 and the switching student's at 0, so that the switcher's page draws
about as soon as on a machine of its own. For each N and each post-run collection setting (`--gc`:
Streamlit's `runner.postScriptGC`, off in the app's config): N sessions open Train DANN, each sets its
own seed and starts a default run at the same moment, and watches it; the runs queue on the one CPU.
One more session goes once round all six pages (untimed: a page is cold once per server), then clicks
through them until every run has ended (N = 0: five rounds, nobody training).

Printed per scene: the median training img/s of every epoch trained (from the runs' metrics.jsonl)
against `python -m explorer train` with the same options on core 0 alone, run just before and just
after the scene (their mean; this VM's speed drifts); page-switch p50/p95 by three clocks: this
script's (Playwright's click and waits included), the page's own (click event to the app reading
notRunning with the new title), and the server's part (request arrived to finished message sent);
the server's part per page; runs finished of N; the watchers' polls a minute; the server's RSS.

Measured auto's choice for the embedded pair is written before the server starts, as it is after the
first measuring run of a class, so each Start trains one run (the measuring run itself is benched in
bench/auto_measured.py). With ``--minutes M``, one more scene: 8 sessions start a new run each time
theirs ends, for M minutes, while one more switches pages; the server's memory is sampled once a
minute (issue: within 1.5x of the ten-minute figure after an hour). ``--sessions ""`` runs only that.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import CHROMIUM_ARGS, PAGES, App, go, set_number, settle

SERVER_CORE, BROWSER_CORE = "0", 1


def seed_decision(home: Path) -> None:
    """The measured choice for the embedded pair, as a class's first run leaves it (the statistics' first
    option)."""
    os.environ["EXPLORER_HOME"] = str(home)
    from explorer.dann.config import TrainConfig
    from explorer.dann.validators import DEFAULT
    from explorer.data.builtin import load_builtin
    from explorer.execution.auto import decide, shortlist
    from explorer.store import decisions

    data = load_builtin(32)
    options = shortlist(TrainConfig(), data)
    histories = [[{"epoch": 1, "validators": {DEFAULT: 1.0 - i}}] for i in range(len(options))]
    decisions.save(decide(options, histories, data.fingerprint, "dann"))


def cli_reference(home: Path, epochs: int) -> float:
    """Median img/s of `python -m explorer train` with the class's options, alone on the server's core."""
    out = Path(tempfile.mkdtemp(prefix="cli-run-", dir=home.parent))
    env = dict(os.environ, EXPLORER_HOME=str(home))
    subprocess.run(
        [
            "taskset",
            "-c",
            SERVER_CORE,
            sys.executable,
            "-m",
            "explorer",
            "train",
            "--data",
            "builtin",
            "--epochs",
            str(epochs),
            "--seed",
            "999",
            "--out",
            str(out),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    return statistics.median(
        json.loads(line)["img_per_s"] for line in (out / "metrics.jsonl").read_text().splitlines()
    )


def student(browser, url: str, seed: int, epochs: int):
    """A session on Train DANN with its run set (epochs, its own seed), not started yet."""
    page = switcher(browser, url)
    go(page, "Train DANN")
    set_number(page, "Epochs", epochs)
    set_number(page, "Seed", seed)
    return page


def runs_of(home: Path, seeds) -> dict[int, list[dict]]:
    """The metrics of the class's runs (by seed) in the server's cache."""
    found = {}
    for d in (home / "runs").iterdir():
        try:
            info = json.loads((d / "config.json").read_text())
            if info["seed"] in seeds and (d / "metrics.jsonl").is_file():
                found[info["seed"]] = [
                    json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line
                ]
        except (OSError, ValueError):
            continue  # a run being created (or removed by the cache's cap) this moment
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# In the switching page: the click's time, and when after it the app first reads notRunning with the
# page's title.
IN_PAGE_CLOCK = """
window.__switch = {};
document.addEventListener("click", () => {
  window.__switch = {clicked: performance.now(), want: window.__want};
}, true);
new MutationObserver(() => {
  const s = window.__switch, app = document.querySelector("[data-testid='stApp']");
  const h1 = document.querySelector("[data-testid='stMain'] h1");
  if (s.clicked && !s.done && app && app.dataset.testScriptState === "notRunning"
      && h1 && h1.textContent.includes(s.want))
    s.done = performance.now();
}).observe(document, {
  subtree: true, childList: true, attributes: true, attributeFilter: ["data-test-script-state"]
});
"""


def switch(page, title: str) -> tuple[float, float]:
    """Seconds from a click in the sidebar until the page has its title and its script has finished: by
    this script's clock (Playwright's click and waits included), and by the page's own (click event to
    the app reading notRunning with the title drawn)."""
    t = time.perf_counter()
    page.evaluate("title => { window.__want = title; }", title)
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.wait_for_selector(f"[data-testid='stMain'] h1:has-text('{title}')")
    settle(page, extra_ms=0)
    seen = time.perf_counter() - t
    return seen, page.evaluate("(s => (s.done - s.clicked) / 1000)(window.__switch)")


def p95(values) -> float:
    """The 95th percentile by nearest rank: the smallest value with 95% of them at or below it."""
    return sorted(values)[math.ceil(0.95 * len(values)) - 1]


def spread(values) -> str:
    """Median and p95 of some seconds, as the tables print them."""
    return f"{statistics.median(values):.2f} / {p95(values):.2f}"


def server_part(timings: Path, untimed: int) -> dict:
    """The page switches' server part (request arrived -> finished message sent, bench/timed_server.py):
    the session that visited the most pages is the one switching; its first `untimed` runs are its
    opening load and its round of the pages before the scene."""
    lines = [json.loads(line) for line in timings.read_text().splitlines()]
    polls = sum(1 for line in lines if line.get("fragment"))
    visits: dict[str, list[dict]] = {}
    for line in lines:
        if line.get("fragment"):
            continue
        visits.setdefault(line["session"], []).append(line)
    mine = max(visits.values(), key=lambda runs: len({r["page"] for r in runs}))[untimed:]
    for r in mine:
        r["total"] = r["queued"] + r["script"] + r["sending"]
    return {
        "polls": polls,
        "server": [r["total"] for r in mine],
        "queued_p95": p95([r["queued"] for r in mine]),
        "by_page": {
            p: [r["total"] for r in mine if r["page"] == p] for p in sorted({r["page"] for r in mine})
        },
    }


def switcher(browser, url: str):
    """A new browser session on the app's first page."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(120_000)
    page.add_init_script(IN_PAGE_CLOCK)
    page.goto(url)
    settle(page)
    return page


def scene(browsers, root: Path, n: int, epochs: int, gc: str) -> dict:
    """N students start their runs at once and watch; one more clicks through the pages until all end."""
    home = root / f"home-{n}-{gc}"
    seed_decision(home)
    timings = root / f"server-runs-{n}-{gc}.jsonl"
    app = App(
        home,
        root / f"server-{n}-{gc}.log",
        prefix=("taskset", "-c", SERVER_CORE),
        module="bench.timed_server",
        flags=("--runner.postScriptGC", "true" if gc == "on" else "false"),
        EXPLORER_BENCH_RUNS=str(timings),
    ).start()
    try:
        seeds, titles = range(n), list(PAGES)[1:] + ["Data"]
        pages = [student(browsers[0], app.url, s, epochs) for s in seeds]
        other = switcher(browsers[1], app.url)
        # every page once, untimed: a class meets a cold page once per server, not per click
        for title in titles:
            switch(other, title)
        for p in pages:
            p.get_by_role("button", name="Start training").click()
        switches, t0 = [], time.time()
        while time.time() - t0 < n * epochs * 4 + 120:
            if (n == 0 and len(switches) == 5 * len(titles)) or (
                n and sum(len(m) >= epochs for m in runs_of(home, seeds).values()) == n
            ):
                break  # nobody training: five rounds of the pages; else: until every run has ended
            switches.append(switch(other, titles[len(switches) % len(titles)]))
        trained = runs_of(home, seeds)
        speeds = [e["img_per_s"] for m in trained.values() for e in m]
        result = {
            "sessions": n,
            "gc": gc,
            "img_per_s": statistics.median(speeds) if speeds else float("nan"),
            "finished": sum(len(m) >= epochs for m in trained.values()),
            "switches": [s for s, _ in switches],
            "in_page": [p for _, p in switches],
            "rss_mib": rss_mib(app.proc.pid),
            "seconds": time.time() - t0,
        } | server_part(timings, 1 + len(titles))
        for p in [*pages, other]:
            p.context.close()
        return result
    finally:
        app.stop()


def memory(browsers, root: Path, epochs: int, minutes: float, n: int = 8) -> dict:
    """N sessions start a new run each time theirs ends, for `minutes`, while one more clicks through
    the pages; the server's RSS once a minute, and the class's training speed over the whole time."""
    home, timings = root / "home-memory", root / "server-runs-memory.jsonl"
    seed_decision(home)
    app = App(
        home,
        root / "server-memory.log",
        prefix=("taskset", "-c", SERVER_CORE),
        module="bench.timed_server",
        EXPLORER_BENCH_RUNS=str(timings),
    ).start()
    try:
        seeds = list(range(1000, 1000 + n))
        pages = [student(browsers[0], app.url, s, epochs) for s in seeds]
        other, titles, switches = switcher(browsers[1], app.url), list(PAGES)[1:] + ["Data"], []
        for p in pages:
            p.get_by_role("button", name="Start training").click()
        samples, t0, runs = [], time.time(), n
        while time.time() - t0 < minutes * 60:
            trained = runs_of(home, seeds)
            for i, page in enumerate(pages):
                if len(trained.get(seeds[i], [])) >= epochs:  # this student's run ended: the next one
                    seeds[i] += n
                    set_number(page, "Seed", seeds[i])
                    page.get_by_role("button", name="Start training").click()
                    runs += 1
            if time.time() - t0 >= 60 * len(samples):
                samples.append(rss_mib(app.proc.pid))
            switches.append(switch(other, titles[len(switches) % len(titles)]))
        samples.append(rss_mib(app.proc.pid))
        speeds = [e["img_per_s"] for m in runs_of(home, range(1000, seeds[-1] + 1)).values() for e in m]
        return {
            "sessions": n,
            "minutes": minutes,
            "runs": runs,
            "img_per_s": statistics.median(speeds),
            "rss": samples,
            "switches": [s for s, _ in switches],
            "in_page": [p for _, p in switches],
        } | server_part(timings, 1)
    finally:
        app.stop()


def memory_report(r: dict, before: float, after: float) -> str:
    reference, rss, at10 = (before + after) / 2, r["rss"], r["rss"][min(10, len(r["rss"]) - 1)]
    return (
        f"memory, {r['sessions']} sessions for {r['minutes']:g} min ({r['runs']} runs started), "
        f"one more switching pages: training {r['img_per_s']:,.0f} img/s "
        f"({r['img_per_s'] / reference:.2f}x the CLI: {before:,.0f} before, {after:,.0f} after); "
        f"page switch p50 / p95, the bench's clock {spread(r['switches'])} s, "
        f"the page's {spread(r['in_page'])} s, the server's part {spread(r['server'])} s "
        f"({len(r['switches'])} switches); RSS by minute "
        + ", ".join(f"{m}: {v:,.0f}" for m, v in enumerate(rss))
        + f" MiB; end / minute 10 = {rss[-1] / at10:.2f}"
    )


def launch(p, root: Path, nice: int):
    """Two chromiums on the browsers' core: the watching students' at `nice`, the switching student's at
    0, so that the switcher's page draws about as soon as it would on a machine of its own."""
    wrapper = root / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} /usr/bin/chromium "$@"\n')
    wrapper.chmod(0o755)
    return [
        p.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        for path in (wrapper, "/usr/bin/chromium")
    ]


def report(r: dict, before: float, after: float) -> str:
    """A scene's row of the table (against the CLI's speed before and after it, averaged), and a line on
    the server's part of each page and the watchers' polls."""
    reference = (before + after) / 2
    return (
        f"| {r['sessions']} | {r['gc']} | {r['img_per_s']:,.0f} | "
        f"{r['img_per_s'] / reference:.2f} ({before:,.0f}, {after:,.0f}) | "
        f"{r['finished']} of {r['sessions']} | "
        f"{spread(r['switches'])} ({len(r['switches'])}); {spread(r['in_page'])}; {spread(r['server'])} | "
        f"{r['rss_mib']:,.0f} |\n   server's part by page, p50 / p95 (s): "
        + "; ".join(f"{p} {spread(t)}" for p, t in r["by_page"].items())
        + f"; queued before its script started, p95 {r['queued_p95']:.2f} s; the watchers' polls: "
        f"{r['polls'] / max(1, r['sessions']) / (r['seconds'] / 60):.1f} per watcher-minute"
    )


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sessions", default="0,1,4,8,16", help="0: nobody training, the switching session alone"
    )
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument(
        "--gc",
        default="off,on",
        help="Streamlit's postScriptGC in each scene: off (the app's), on (Streamlit's default)",
    )
    ap.add_argument(
        "--minutes", type=float, default=0, help="also: 8 sessions for this long, memory sampled each minute"
    )
    ap.add_argument(
        "--watchers-nice",
        type=int,
        default=19,
        help="the watchers' chromium's nice value; 0: all browsers equal",
    )
    args = ap.parse_args()
    os.sched_setaffinity(0, {BROWSER_CORE})  # this script and its chromium: the students' side
    root = Path(tempfile.mkdtemp(prefix="classroom-"))
    seed_decision(root / "home-cli")
    print(
        f"{args.epochs}-epoch runs; the CLI alone on core {SERVER_CORE} before and after each scene; "
        f"watchers' chromium at nice {args.watchers_nice}",
        flush=True,
    )
    print(
        "| sessions watching | postScriptGC | training img/s | x CLI (CLI img/s before, after) | "
        "runs finished | page switch p50 / p95 (s): the bench's clock; the page's clock; the server's part | "
        "server RSS (MiB) |\n|---|---|---|---|---|---|---|",
        flush=True,
    )
    with sync_playwright() as p:
        browsers = launch(p, root, args.watchers_nice)
        for gc in args.gc.split(","):
            for n in [int(s) for s in args.sessions.split(",") if s]:
                before = cli_reference(root / "home-cli", args.epochs)
                r = scene(browsers, root, n, args.epochs, gc)
                print(report(r, before, cli_reference(root / "home-cli", args.epochs)), flush=True)
        if args.minutes:
            before = cli_reference(root / "home-cli", args.epochs)
            r = memory(browsers, root, args.epochs, args.minutes)
            print(memory_report(r, before, cli_reference(root / "home-cli", args.epochs)), flush=True)
        for b in browsers:
            b.close()


if __name__ == "__main__":
    main()
