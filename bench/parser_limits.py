"""Parser limits: what the new limits cost on the normal path, with and without them, as ratios.

    PYTHONPATH=src .venv/bin/python bench/parser_limits.py            # 5,000 services / 10,000 endpoints, 200 requests
    PYTHONPATH=src .venv/bin/python bench/parser_limits.py --quick    # 1,000 services / 2,000 endpoints, 60 requests

Three workloads, each timed with the limits on and off in alternating rounds (neither side always
gets the warmer caches); the figure is the median, the ratio is on / off (the ratio of the fastest
rounds is printed beside it: on a busy machine it moves less):

    sync     a forced catalog sync (every file parsed, validated and written to SQLite) of the catalog
             ``bench/catalog_scale.py`` generates; the limit is the YAML pre-scan (``yamllimits``)
    parse    the YAML part of that alone: every catalog file through ``PlainLoader.load``
    preview  ``POST /api/v1/docs/preview`` of a 20 KB doc with front matter, in-process (TestClient):
             JSON body limits, the front matter's YAML pre-scan and the render cap
    json1mb  a 1 MB JSON body (a doc of markdown with links, so the exact depth scan runs, not only the
             bracket count) posted to the same route with a path over its 1,000-character limit: the
             route refuses it (422) after reading, scanning and parsing the body, so the figure is the
             body's cost, not rendering. Limits on/off = the JSON middleware installed or not

Times are CPU seconds of this process (``time.process_time``: every thread, the app's included), not
wall time: on a shared machine other jobs stretch wall time by far more than the limits cost, and
the limits cost CPU, not waiting. "Off" means: ``yamllimits.check_yaml`` replaced by a no-op,
``render.MAX_RENDER_CHARS`` unbounded and an app built without ``web.limits.install``. Target: every
ratio ≤ 1.05. The machine's load average is printed at the start and the end: the figures move when
other jobs run; compare ratios of one run. The last line is one JSON object with every printed
figure. Traffic: none (in-process only).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import emit_json, machine_load, median, print_table, ratio, rounded
from catalog_scale import fast_import, generate, git_env

FULL = {"services": 5_000, "endpoints": 10_000, "sync_rounds": 6, "requests": 200}
QUICK = {"services": 1_000, "endpoints": 2_000, "sync_rounds": 5, "requests": 60}
TARGET_RATIO = 1.05
WORDS = ("backup", "restore", "the", "server", "runs", "nightly", "and", "checks", "disk", "before", "with",
         "care", "postgres", "replica", "failover", "certificate", "renews")


@contextmanager
def limits_off() -> Iterator[None]:
    """The parser limits bypassed, as before they existed."""
    from calcifer.catalog import yamllimits
    from calcifer.docs import render
    from calcifer.web import limits

    saved = (yamllimits.check_yaml, render.MAX_RENDER_CHARS, limits.install)
    yamllimits.check_yaml = lambda text: None  # type: ignore[assignment]
    render.MAX_RENDER_CHARS = 10**12
    limits.install = lambda app, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        yamllimits.check_yaml, render.MAX_RENDER_CHARS, limits.install = saved


def markdown(chars: int, rng: random.Random) -> str:
    """A doc of headings, prose with links and code, lists and a table, about ``chars`` long."""
    parts: list[str] = []
    size = 0
    n = 0
    while size < chars:
        n += 1
        block = (f"## Section {n}\n\n"
                 + " ".join(rng.choice(WORDS) for _ in range(60))
                 + f" See [the runbook](../runbooks/r{n}.md) and `systemctl restart svc{n}`.\n\n"
                 + "".join(f"- step {k}: **{rng.choice(WORDS)}** the {rng.choice(WORDS)}\n" for k in range(4))
                 + "\n| host | role |\n|---|---|\n" + "".join(f"| h{n}-{k} | {rng.choice(WORDS)} |\n"
                                                             for k in range(3)) + "\n")
        parts.append(block)
        size += len(block)
    return "".join(parts)


def alternate(rounds: int, on: Callable[[], float], off: Callable[[], float]) -> tuple[list[float], list[float]]:
    with_limits: list[float] = []
    without: list[float] = []
    for k in range(rounds):
        for side in (("on", "off") if k % 2 == 0 else ("off", "on")):
            if side == "on":
                with_limits.append(on())
            else:
                with limits_off():
                    without.append(off())
    return with_limits, without


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 services, 60 requests per side")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    root = Path(tempfile.mkdtemp(prefix="calcifer-limits-bench-"))
    try:
        return run(preset, root, "quick" if args.quick else "full")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(preset: dict[str, int], root: Path, mode: str) -> int:
    from fastapi.testclient import TestClient

    from calcifer.app import create_app, prepare
    from calcifer.auth import service as auth_service
    from calcifer.auth.choices import Role
    from calcifer.auth.schemas import UserCreate
    from calcifer.catalog import index
    from calcifer.catalog.yamlio import PlainLoader
    from calcifer.config import Settings

    load_start = machine_load()
    print(f"limits bench ({mode}): load average {load_start['load_1m']} (1 min), {load_start['load_5m']} (5 min) "
          f"on {load_start['cores']} cores", flush=True)
    home = root / "home"
    home.mkdir()
    settings = Settings(_env_file=None, data_dir=root / "data", monitor_in_web=False)  # type: ignore[call-arg]
    ctx = prepare(settings)
    catalog = generate(preset["services"], preset["endpoints"])
    fast_import(ctx.repo_path, [("Import the catalog\n", dict(catalog.files))], git_env(home))
    texts = [text for path, text in catalog.files.items() if path.endswith(".yaml")]
    print(f"  catalog: {len(texts):,} files, {sum(map(len, texts)) / 1024:,.0f} KiB", flush=True)

    def sync() -> float:
        with ctx.session_factory() as session:
            started = time.process_time()
            index.sync_from_git(session=session, repo_path=ctx.repo_path, force=True)
            return time.process_time() - started

    def parse() -> float:
        loader = PlainLoader()
        started = time.process_time()
        for text in texts:
            try:
                loader.load(text)
            except Exception:  # noqa: BLE001 - the catalog has a deliberately broken file
                pass
        return time.process_time() - started

    sync()  # the first sync fills the index; the rounds are forced re-syncs
    rounds = preset["sync_rounds"]
    sync_on, sync_off = alternate(rounds, sync, sync)
    parse_on, parse_off = alternate(rounds * 2, parse, parse)

    with ctx.session_factory() as session:
        user = auth_service.create_user(session=session, actor=None, data=UserCreate(
            username="bench", password="correct horse battery", role=Role.VIEWER))
        _, token = auth_service.create_token(session=session, actor=user, owner=user, name="bench")
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    app_on = create_app(ctx=ctx)
    with limits_off():
        app_off = create_app(ctx=ctx)
    rng = random.Random(11)
    doc = "---\ntitle: Bench doc\ntags: [bench, docs]\nowner: {team: ops, oncall: true}\n---\n" + markdown(20_000, rng)
    preview_body = json.dumps({"markdown": doc, "path": "docs/bench.md"}).encode()
    big_body = json.dumps({"markdown": markdown(1_000_000, rng), "path": "x" * 1_001}).encode()

    def post(app: Any, body: bytes, status: int) -> Callable[[], float]:
        client = TestClient(app)

        def once() -> float:
            started = time.process_time()
            response = client.post("/api/v1/docs/preview", content=body, headers=headers)
            elapsed = time.process_time() - started
            if response.status_code != status:
                raise RuntimeError(f"preview answered {response.status_code}: {response.text[:200]}")
            return elapsed

        return once

    requests = preset["requests"]
    post(app_on, preview_body, 200)(), post(app_off, preview_body, 200)()  # warm-up, not counted
    preview_on, preview_off = alternate(requests, post(app_on, preview_body, 200), post(app_off, preview_body, 200))
    json_on, json_off = alternate(requests, post(app_on, big_body, 422), post(app_off, big_body, 422))

    figures: dict[str, Any] = {"mode": mode, "services": preset["services"], "endpoints": preset["endpoints"],
                               "catalog_files": len(texts), "rounds_sync": rounds, "rounds_parse": rounds * 2,
                               "requests": requests, "doc_chars": len(doc), "json_bytes": len(big_body),
                               "target_ratio": TARGET_RATIO}
    rows = []
    workloads = (("sync (forced)", sync_on, sync_off, "s"), ("parse (YAML only)", parse_on, parse_off, "s"),
                 ("preview 20 KB doc", preview_on, preview_off, "ms"), ("1 MB JSON body", json_on, json_off, "ms"))
    for name, on, off, unit in workloads:
        scale = 1000.0 if unit == "ms" else 1.0
        m_on, m_off = median(on) * scale, median(off) * scale
        r = ratio(m_on, m_off)
        r_min = ratio(min(on), min(off))
        key = name.split()[0] if not name.startswith("1 MB") else "json1mb"
        figures[f"{key}_on_{unit}"] = rounded(m_on, 4)
        figures[f"{key}_off_{unit}"] = rounded(m_off, 4)
        figures[f"{key}_ratio"] = rounded(r, 3)
        figures[f"{key}_ratio_of_minima"] = rounded(r_min, 3)
        rows.append((name, f"{m_on:,.3f} {unit}", f"{m_off:,.3f} {unit}", f"{r:.3f}", f"{r_min:.3f}",
                     "yes" if r <= TARGET_RATIO else "no"))
    print()
    print_table(("workload (median)", "limits on", "limits off", "ratio", "ratio of minima", f"≤ {TARGET_RATIO}"),
                rows)
    load_end = machine_load()
    print(f"\nload average at the end: {load_end['load_1m']} (1 min), {load_end['load_5m']} (5 min)")
    figures.update({"load_1m_start": load_start["load_1m"], "load_5m_start": load_start["load_5m"],
                    "load_1m_end": load_end["load_1m"], "load_5m_end": load_end["load_5m"],
                    "cores": load_start["cores"]})
    ctx.engine.dispose()
    emit_json(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
