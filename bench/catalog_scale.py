"""Catalog at scale: full sync from git, and the catalog pages and graph API under a concurrent client.

    .venv/bin/python bench/catalog_scale.py            # 5,000 services, 10,000 endpoints
    .venv/bin/python bench/catalog_scale.py --quick    # 1,000 services, 2,000 endpoints (under a minute)
    .venv/bin/python bench/catalog_scale.py --profile  # also cProfile the sync and each page in-process

The catalog is generated (seeded, so every run writes the same files) and written to main of a fresh
managed repository with ``git fast-import``: one bulk commit, then a short history of one-file work-item
commits (so the service page's history has something to find). Its shape:

    hardware (bare_metal, 2%) <- vm (16%) <- lxc (3%) <- containers (75%); a few containers run on
    hardware or in an lxc directly; network devices, storage and SaaS (4%) stand alone (no host).
    depends_on: ten "core" services take the fan-in (``auth-core`` is needed by about 45% of the
    containers), 3% of containers are portals that fan out to 10-30 services, the rest need 0-3
    earlier services (always an earlier one, so there is no cycle). 1-4 tags each.
    endpoints: 25% listed inside their service's file, 70% in files of their own naming a service, 5%
    standalone files naming no service; http, tcp, icmp, dns and push checks with distinct targets.
    A few deliberate problems, as a real catalog has: 2 files that do not load (errors) and 6 that
    load with warnings (unknown dependency or service).

Sync, timed in-process with ``index.sync_from_git`` against the app's own database (SQLite):
    cold    the first sync of the catalog commit into an empty index (every file parsed and validated)
    forced  ``force=True`` again (re-parse every file, replace every row): median of the rounds
    one     main gained a commit that changes one file: the unchanged files' specs come from the index
    baseline: a bare loop that lists both folders with pygit2, reads every blob and parses it with the
    same libyaml parser Calcifer uses (ruamel's CSafeLoader), with no validation, no checks, no database.
    Ratio = sync / baseline. Target: cold and forced full syncs under 5 s.

Pages and API, over HTTP: the app (``create_app(ctx=prepare(settings))``) runs under uvicorn (one worker,
as ``calcifer serve`` by default) in a child process on 127.0.0.1 (a free port), so the clients do not
share its interpreter. Each client is a thread with its own keep-alive httpx client and the admin's API
token. The issue asks for the p50/p95 "under a concurrent client": read as one measured client sending
the scenario's requests one after another while ONE background client (``--background``, default 1)
sends the same scenario's requests without pause, from before the first measured request until after
the last; only the measured client's latencies count. "solo p50" is the same requests from one client
alone: the service time without queueing. An extra column (``--crowd``, default 6; 0 skips it) gives
the p95 when that many clients share the requests, as earlier versions of this bench measured (with
one worker, a p95 under N concurrent clients is roughly N times the service time); it has no target.
The baseline is the same server answering ``/healthz`` (one ``SELECT 1`` and a ref lookup: the fixed
cost of the HTTP stack, auth excluded) under the same background client; ratio = page p95 / healthz
p95. Target: every page p95 under 100 ms. The machine's load average is printed: the figures move a
lot when other jobs run; compare ratios from the same run.

Options: ``--services``, ``--endpoints``, ``--requests`` (per scenario), ``--background``, ``--crowd``,
``--dir`` (keep the data directory in a new or empty folder, e.g. to profile against it afterwards).

Bench scripts print figures; they never fail on a timing and are never part of the test suite.
Traffic goes only to 127.0.0.1. The last line is one JSON object with every printed figure.
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import gc
import io
import os
import pstats
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import emit_json, median, percentile, print_table, ratio, rounded

FULL = {"services": 5_000, "endpoints": 10_000, "history": 100, "requests": 240, "sync_rounds": 3}
QUICK = {"services": 1_000, "endpoints": 2_000, "history": 20, "requests": 48, "sync_rounds": 2}
TARGET_SYNC_S = 5.0
TARGET_PAGE_P95_MS = 100.0
HUB = "auth-core"  # the most depended-on service
FILTER_Q = "postgres"
FILTER_TAG = "env:prod"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Operator", "GIT_AUTHOR_EMAIL": "operator@bench.invalid",
    "GIT_COMMITTER_NAME": "Bench Operator", "GIT_COMMITTER_EMAIL": "operator@bench.invalid",
}

# ---------------------------------------------------------------------------------------------------
# the generated catalog

APPS = ("grafana", "prometheus", "postgres", "redis", "nginx", "keycloak", "gitea", "minio", "rabbitmq",
        "kafka", "elastic", "kibana", "loki", "vault", "consul", "nextcloud", "jellyfin", "traefik",
        "mariadb", "mongodb", "zabbix", "jenkins", "sonarqube", "harbor", "mattermost", "wiki", "api",
        "worker", "scheduler", "frontend")
CORE = (("auth-core", "keycloak", 0.45), ("db-core", "postgres", 0.30), ("dns-core", "coredns", 0.15),
        ("logs-core", "loki", 0.12), ("metrics-core", "prometheus", 0.10), ("mq-core", "rabbitmq", 0.08),
        ("storage-core", "minio", 0.08), ("ldap-core", "openldap", 0.06), ("mail-core", "postfix", 0.04),
        ("proxy-core", "traefik", 0.05))
SENTENCES = (
    "Runs behind the internal load balancer; restart it with the compose project.",
    "Backups are taken nightly and kept for thirty days.",
    "Stores its data in postgres; migrations run on start.",
    "Certificates renew automatically sixty days before they expire.",
    "Logs go to the central collector and are kept for two weeks.",
    "The health endpoint answers within fifty milliseconds when its dependencies are up.",
    "Upgrades follow the vendor's release notes; read the breaking changes first.",
    "Access is granted through the directory group of the same name.",
)
ENDPOINT_TYPES = ("http", "http", "http", "http", "http", "http", "http", "http", "http",
                  "tcp", "tcp", "tcp", "tcp", "tcp", "icmp", "icmp", "icmp", "dns", "dns", "push")


@dataclass
class Svc:
    slug: str
    name: str
    kind: str
    host: str | None = None
    app: str = ""
    deps: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str = "active"
    nested: list[str] = field(default_factory=list)  # nested endpoint blocks (already YAML text)


@dataclass
class Catalog:
    files: dict[str, str]
    services: list[Svc]
    n_services: int         # loaded services
    n_endpoints: int        # loaded endpoints
    n_nested: int
    n_standalone: int       # endpoint files naming no service
    errors: int
    warnings: int
    edges_depends: int
    edges_host: int
    hub_dependents: int     # direct dependents of HUB
    max_fan_out: int


def _tags(rng: random.Random, team: int) -> list[str]:
    env = rng.choices(("env:prod", "env:staging", "env:dev"), weights=(6, 2, 2))[0]
    tags = [env, f"team-{team:02d}", f"tier-{rng.choice(('low', 'medium', 'high'))}"]
    if rng.random() < 0.2:
        tags.append(rng.choice(("pci", "backup", "public", "gdpr")))
    return tags[: rng.randint(1, len(tags))] if rng.random() < 0.3 else tags


def _plan_services(n: int, rng: random.Random) -> list[Svc]:
    counts = {"bare_metal": max(2, n * 2 // 100), "network_device": max(1, n // 100),
              "storage": max(1, n // 100), "saas": max(1, n * 2 // 100), "vm": max(4, n * 16 // 100),
              "lxc": max(2, n * 3 // 100)}
    out: list[Svc] = []
    for i in range(counts["bare_metal"]):
        out.append(Svc(f"hw-{i:04d}", f"Server {i:04d} (rack {i // 20 + 1})", "bare_metal"))
    for i in range(counts["network_device"]):
        out.append(Svc(f"switch-{i:03d}", f"Switch {i:03d}", "network_device"))
    for i in range(counts["storage"]):
        out.append(Svc(f"nas-{i:03d}", f"NAS {i:03d}", "storage"))
    for i in range(counts["saas"]):
        out.append(Svc(f"saas-{i:03d}", f"SaaS subscription {i:03d}", "saas"))
    hardware = [s.slug for s in out if s.kind == "bare_metal"]
    vms = []
    for i in range(counts["vm"]):
        # Skewed: some hypervisors carry many more VMs than others.
        host = hardware[min(int(rng.paretovariate(1.2)) - 1, len(hardware) - 1) if rng.random() < 0.3
                        else rng.randrange(len(hardware))]
        vms.append(Svc(f"vm-{i:04d}", f"VM {i:04d}", "vm", host=host))
    out += vms
    lxcs = [Svc(f"lxc-{i:04d}", f"LXC {i:04d}", "lxc", host=rng.choice(vms).slug) for i in range(counts["lxc"])]
    out += lxcs
    for slug, app, _ in CORE:
        out.append(Svc(slug, f"{app.capitalize()} ({slug})", "container", host=rng.choice(vms).slug, app=app))
    n_containers = n - len(out)
    for i in range(n_containers):
        app = rng.choice(APPS)
        r = rng.random()
        host = (rng.choice(hardware) if r < 0.05 else rng.choice(lxcs).slug if r < 0.12
                else rng.choice(vms).slug)
        out.append(Svc(f"{app}-{i:05d}", f"{app.capitalize()} {i:05d}", "container", host=host, app=app))
    # depends_on: only on services earlier in the list (a DAG), never on a host-only machine.
    needable = [i for i, s in enumerate(out) if s.kind in ("storage", "saas", "container")]
    first_container = next(i for i, s in enumerate(out) if s.kind == "container")
    core_slugs = {slug for slug, _, _ in CORE}
    for index, svc in enumerate(out):
        svc.tags = _tags(rng, rng.randrange(20))
        svc.status = rng.choices(("active", "maintenance", "retired"), weights=(92, 5, 3))[0]
        if svc.kind != "container":
            continue
        earlier = bisect.bisect_left(needable, index)  # needable[:earlier] come before this one
        deps: list[str] = []
        if svc.slug not in core_slugs:
            deps += [slug for slug, _, p in CORE if rng.random() < p]
        if index > first_container + len(CORE) + 50 and rng.random() < 0.03:
            fan = rng.randint(10, 30)  # a portal or dashboard: fans out to many services
        else:
            fan = rng.choice((0, 0, 1, 1, 2, 3))
        for _ in range(fan):
            if not earlier:
                break
            # Mostly a neighbour (the same stack), sometimes anything earlier.
            pick = (earlier - rng.randint(1, min(40, earlier)) if rng.random() < 0.7
                    else rng.randrange(earlier))
            deps.append(out[needable[pick]].slug)
        svc.deps = list(dict.fromkeys(d for d in deps if d != svc.slug))
    return out


def _endpoint_doc(n: int, kind: str, service: str | None, *, indent: str = "", nested: bool = False) -> str:
    slug = f"{service or 'ext'}-{kind}-{n}"
    lines = [f"name: {kind.upper()} check {n} of {service or 'the outside world'}", f"slug: {slug}"]
    if service and not nested:
        lines.append(f"service: {service}")
    lines.append(f"type: {kind}")
    base = service or f"ext-{n}"
    if kind == "http":
        lines.append(f"target: https://{base}.example.org/health/{n}")
        if n % 3 == 0:
            lines += ["options:", "  method: GET", "  accepted_status: [200]"]
    elif kind == "tcp":
        lines += [f"target: {base}.internal", f"port: {1024 + n}"]
    elif kind == "icmp":
        lines.append(f"target: 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}")
    elif kind == "dns":
        lines.append(f"target: {base}-{n}.example.org")
    if n % 4 == 0:
        lines.append(f"interval: {(30, 60, 120, 300)[n % 4]}")
    if n % 10 == 0:
        lines += ["timeout: 5", "retries: 2"]
    if n % 50 == 0:
        lines.append("enabled: false")
    if not nested:
        return "\n".join(lines) + "\n"
    first, *rest = lines
    return "".join([f"{indent}- {first}\n", *(f"{indent}  {line}\n" for line in rest)])


def service_doc(svc: Svc, n: int, rng: random.Random, *, extra_deps: tuple[str, ...] = ()) -> str:
    deps = [*svc.deps, *extra_deps]
    out = [f"# {svc.name}: generated by bench/catalog_scale.py", f"name: {svc.name}", f"slug: {svc.slug}",
           f"kind: {svc.kind}"]
    if svc.host:
        out.append(f"host: {svc.host}")
    out.append(f"description: {SENTENCES[n % len(SENTENCES)]}")
    if svc.status != "active":
        out.append(f"status: {svc.status}")
    if svc.kind in ("container", "saas", "vm"):
        out += ["urls:", f"  - https://{svc.slug}.example.org"]
    if svc.kind in ("container", "vm", "lxc", "bare_metal"):
        out += ["ports:", f"  - number: {1 + n % 65000}", "    protocol: tcp", "    purpose: web ui"]
        out.append(f"resources: {{cpu: {rng.choice((1, 2, 4, 8))}, memory: {rng.choice((1, 2, 4, 16))}G, "
                   f"disk: {rng.choice((10, 50, 200))}G}}")
    if svc.kind == "container":
        out += ["deployment:", "  type: compose", f"  compose_file: stacks/{svc.slug}/compose.yaml",
                f"  compose_service: {svc.app}"]
    out.append(f"owner: team-{n % 20:02d}")
    out += ["tags:", *(f"  - {tag}" for tag in svc.tags)]
    if deps:
        out += ["depends_on:", *(f"  - {dep}" for dep in deps)]
    if n % 7 == 0:
        out += ["notes: |", "  Upgrade in the maintenance window.", "  Ask the owner before restarting."]
    if svc.nested:
        out.append("endpoints:")
        out += [block.rstrip("\n") for block in svc.nested]
    return "\n".join(out) + "\n"


def generate(n_services: int, n_endpoints: int, seed: int = 20240601) -> Catalog:
    rng = random.Random(seed)
    services = _plan_services(n_services, rng)
    containers = [s for s in services if s.kind == "container"]
    files: dict[str, str] = {}
    n_nested = n_endpoints * 25 // 100
    n_standalone = n_endpoints * 5 // 100
    n_own = n_endpoints - n_nested - n_standalone
    counter = 0
    while counter < n_nested:
        svc = rng.choice(containers)
        kind = rng.choice(ENDPOINT_TYPES)
        svc.nested.append(_endpoint_doc(counter, kind, svc.slug, indent="  ", nested=True))
        counter += 1
    weights = [1 if s.kind == "container" else 3 for s in services]  # machines get icmp/tcp checks too
    for svc in rng.choices(services, weights=weights, k=n_own):
        kind = rng.choice(ENDPOINT_TYPES) if svc.kind in ("container", "saas") else rng.choice(("icmp", "tcp"))
        text = _endpoint_doc(counter, kind, svc.slug)
        files[f"catalog/endpoints/{svc.slug}-{kind}-{counter}.yaml"] = text
        counter += 1
    for _ in range(n_standalone):
        kind = rng.choice(("http", "icmp", "dns"))
        files[f"catalog/endpoints/ext-{kind}-{counter}.yaml"] = _endpoint_doc(counter, kind, None)
        counter += 1
    # Deliberate problems: 3 services need something unknown, 3 endpoints name an unknown service
    # (warnings; they load), one service file is not YAML and one endpoint lacks its target (errors).
    unknown_need = {containers[-1 - k].slug: f"retired-thing-{k}" for k in range(3)}
    for n, svc in enumerate(services):
        extra = (unknown_need[svc.slug],) if svc.slug in unknown_need else ()
        files[f"catalog/services/{svc.slug}.yaml"] = service_doc(svc, n, rng, extra_deps=extra)
    for k in range(3):
        slug = f"orphan-http-{k}"
        files[f"catalog/endpoints/{slug}.yaml"] = (f"name: Orphan {k}\nslug: {slug}\nservice: gone-service-{k}\n"
                                                   f"type: http\ntarget: https://gone-{k}.example.org/\n")
    files["catalog/services/broken-yaml.yaml"] = "name: Broken\nslug: broken-yaml\nkind: [container\n"
    files["catalog/endpoints/broken-schema.yaml"] = "name: No target\nslug: broken-schema\ntype: http\n"
    edges_depends = sum(len(s.deps) for s in services) + len(unknown_need)
    return Catalog(
        files=files, services=services, n_services=len(services), n_endpoints=n_endpoints + 3,
        n_nested=n_nested, n_standalone=n_standalone, errors=2, warnings=6, edges_depends=edges_depends,
        edges_host=sum(1 for s in services if s.host), hub_dependents=sum(1 for s in services if HUB in s.deps),
        max_fan_out=max(len(s.deps) for s in services),
    )


# ---------------------------------------------------------------------------------------------------
# git


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_IDENTITY)
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "GIT_CONFIG_NOSYSTEM": "1",
                "LC_ALL": "C"})
    return env


def fast_import(repo: Path, commits: list[tuple[str, dict[str, str]]], env: dict[str, str]) -> str:
    """Append commits to main (each: message, {path: text}) with one ``git fast-import``; returns the tip."""
    parent = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "refs/heads/main"], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    chunks: list[bytes] = []
    stamp = 1_700_000_000
    for number, (message, contents) in enumerate(commits):
        raw = message.encode()
        head = ["commit refs/heads/main", f"committer Bench Operator <operator@bench.invalid> "
                f"{stamp + number * 60} +0000", f"data {len(raw)}"]
        chunks.append(("\n".join(head) + "\n").encode() + raw + b"\n")
        if number == 0:
            chunks.append(f"from {parent}\n".encode())
        for path, text in contents.items():
            data = text.encode()
            chunks.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        chunks.append(b"\n")
    subprocess.run(["git", "--git-dir", str(repo), "fast-import", "--quiet"], input=b"".join(chunks),
                   env=env, check=True)
    return subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "refs/heads/main"], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def history(catalog: Catalog, n_commits: int, rng: random.Random) -> list[tuple[str, dict[str, str]]]:
    """One-file work-item commits after the bulk import (the hub gets a few of them)."""
    commits = []
    for k in range(n_commits):
        svc = next(s for s in catalog.services if s.slug == HUB) if k % 20 == 0 else rng.choice(catalog.services)
        path = f"catalog/services/{svc.slug}.yaml"
        text = catalog.files[path].replace("description: ", f"description: (rev {k}) ", 1)
        catalog.files[path] = text
        commits.append((f"Update {svc.slug}\n\nWork-Item: {10_000 + k}\n", {path: text}))
    return commits


# ---------------------------------------------------------------------------------------------------
# sync and its baseline


def baseline_parse(repo_path: Path) -> int:
    """Read every catalog blob at main with pygit2 and parse it with libyaml: no validation, no DB."""
    import pygit2
    from ruamel.yaml.cyaml import CSafeLoader

    repo = pygit2.Repository(str(repo_path))
    tree = repo.revparse_single("refs/heads/main").peel(pygit2.Commit).tree
    parsed = 0
    for folder in ("catalog/services", "catalog/endpoints"):
        sub = repo[tree[folder].id]
        assert isinstance(sub, pygit2.Tree)
        for entry in sub:
            blob = repo[entry.id]
            assert isinstance(blob, pygit2.Blob)
            loader = CSafeLoader(blob.data.decode("utf-8-sig"))
            try:
                loader.get_single_data()
                parsed += 1
            except Exception:  # noqa: BLE001 - the deliberately broken file
                pass
            finally:
                loader.dispose()
    return parsed


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def profile_text(fn: Callable[[], Any], lines: int = 22) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------
# the server and the clients


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path, port: int) -> None:
    """Child process: the app as `calcifer serve` builds it, on 127.0.0.1:port."""
    import uvicorn

    from calcifer.app import create_app, prepare
    from calcifer.config import Settings

    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    app = create_app(ctx=prepare(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    for _attempt in range(3):
        port = free_port()
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(data_dir), str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        stderr = b""
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        if proc.stderr is not None:
            stderr = proc.stderr.read()
        if b"address already in use" not in stderr.lower():
            raise RuntimeError(f"the server did not start:\n{stderr.decode(errors='replace')[-3000:]}")
    raise RuntimeError("no free port for the server")


@dataclass
class Scenario:
    key: str
    label: str
    paths: list[str]        # requests cycle through these
    is_page: bool = True    # counted against the page target


def run_scenario(base: str, token: str | None, scenario: Scenario, total: int, concurrency: int,
                 warmup: int, background: int = 0) -> dict[str, Any]:
    """``total`` requests from ``concurrency`` measured client threads (sharing the count), while
    ``background`` more clients send the scenario's requests without being measured, from before the
    first measured request until after the last."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    sizes: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))
    paths = scenario.paths
    stop = threading.Event()
    background_requests = [0]

    def worker(warm: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for n in range(warm):
                client.get(paths[n % len(paths)])
            barrier.wait()
            while True:
                with lock:
                    k = next(counter, None)
                if k is None:
                    return
                path = paths[k % len(paths)]
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    sizes.append(len(response.content))
                    if response.status_code != 200:
                        failures.append(f"{path}: {response.status_code} {response.text[:200]}")

    def background_worker(offset: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            client.get(paths[offset % len(paths)])
            barrier.wait()
            n = offset
            while not stop.is_set():
                response = client.get(paths[(n * 7 + 3) % len(paths)])  # not in step with the measured one
                n += 1
                with lock:
                    background_requests[0] += 1
                    if response.status_code != 200:
                        failures.append(f"(background) {response.status_code} {response.text[:200]}")

    barrier = threading.Barrier(concurrency + background + 1)
    threads = [threading.Thread(target=worker, args=(max(1, warmup // concurrency),)) for _ in range(concurrency)]
    helpers = [threading.Thread(target=background_worker, args=(k,)) for k in range(background)]
    for thread in threads + helpers:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    stop.set()
    for thread in helpers:
        thread.join()
    if failures:
        raise RuntimeError(f"{scenario.label}: {len(failures)} failed requests, e.g. {failures[0]}")
    ms = [v * 1000 for v in latencies]
    return {"requests": len(ms), "p50_ms": median(ms), "p95_ms": percentile(ms, 95), "max_ms": max(ms),
            "per_s": len(ms) / wall if wall else 0.0, "kib": median(sizes) / 1024,
            "background_requests": background_requests[0]}


# ---------------------------------------------------------------------------------------------------
# main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['services']:,} services and {QUICK['endpoints']:,} endpoints")
    parser.add_argument("--services", type=int)
    parser.add_argument("--endpoints", type=int)
    parser.add_argument("--requests", type=int, help="requests per scenario")
    parser.add_argument("--background", type=int, default=1,
                        help="background clients while one client is measured (default 1: the issue's "
                             "\"under a concurrent client\")")
    parser.add_argument("--crowd", type=int, default=6,
                        help="also measure with this many concurrent clients, as an extra column (0: skip)")
    parser.add_argument("--profile", action="store_true", help="cProfile the sync and each page in-process")
    parser.add_argument("--dir", type=Path, help="keep the data directory there (default: a temporary one)")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return 0

    preset = QUICK if args.quick else FULL
    n_services = args.services or preset["services"]
    n_endpoints = args.endpoints or preset["endpoints"]
    n_requests = args.requests or preset["requests"]
    mode = "quick" if args.quick else "full"
    if args.dir and args.dir.exists() and any(args.dir.iterdir()):
        parser.error(f"--dir {args.dir} is not empty; give a new or empty folder")
    root = args.dir.resolve() if args.dir else Path(tempfile.mkdtemp(prefix="calcifer-catalog-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, root, mode, n_services, n_endpoints, n_requests, preset)
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, mode: str, n_services: int, n_endpoints: int, n_requests: int,
        preset: dict[str, int]) -> int:
    from calcifer.app import prepare
    from calcifer.auth import service as auth_service
    from calcifer.auth.choices import Role
    from calcifer.auth.schemas import UserCreate
    from calcifer.catalog import index
    from calcifer.catalog.models import CatalogEdge
    from calcifer.config import Settings

    if args.quick:
        print(f"QUICK run: {n_services:,} services and {n_endpoints:,} endpoints, {n_requests} requests per "
              f"scenario: smaller than the target catalog ({FULL['services']:,} services, "
              f"{FULL['endpoints']:,} endpoints); figures are indicative only.", flush=True)
    print(f"catalog_scale bench ({mode}): generating {n_services:,} services and {n_endpoints:,} endpoints ...",
          flush=True)
    home = root / "home"
    home.mkdir()
    env = git_env(home)
    data_dir = root / "data"
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    ctx = prepare(settings)  # creates the managed repository and the database, as at first start
    repo_path = ctx.repo_path

    t_gen, catalog = timed(lambda: generate(n_services, n_endpoints))
    rng = random.Random(7)
    commits = [("Import the catalog\n", dict(catalog.files)), *history(catalog, preset["history"], rng)]
    t_git, _tip = timed(lambda: fast_import(repo_path, commits, env))
    blob_kib = sum(len(t.encode()) for t in catalog.files.values()) / 1024
    print(f"  generated {len(catalog.files):,} files ({blob_kib:,.0f} KiB) in {t_gen:.1f} s; "
          f"{len(commits)} commits written with git fast-import in {t_git:.1f} s", flush=True)

    # -- sync ------------------------------------------------------------------------------------------
    rounds = preset["sync_rounds"]
    with ctx.session_factory() as session:
        t_cold, result = timed(lambda: index.sync_from_git(session=session, repo_path=repo_path))
    expected = (catalog.n_services, catalog.n_endpoints, catalog.errors, catalog.warnings)
    got = (result.services, result.endpoints, result.errors, result.warnings)
    if got != expected:
        with ctx.session_factory() as session:
            sample = [f"{p.file}:{p.line} {p.code} {p.message}" for p in index.list_problems(session=session)][:10]
        raise RuntimeError(f"sync indexed (services, endpoints, errors, warnings) = {got}, expected {expected}; "
                           f"problems: {sample}")
    with ctx.session_factory() as session:
        edges = session.query(CatalogEdge).count()
    forced: list[float] = []
    base_times: list[float] = []
    # CPU seconds of this process beside the wall clock: on a machine other jobs load, the wall clock
    # of a CPU-bound sync grows with the load, its CPU time much less.
    forced_cpu: list[float] = []
    base_cpu: list[float] = []
    for k in range(rounds):
        # Alternate which side goes first so neither always gets the warmer caches.
        order = ("calcifer", "baseline") if k % 2 == 0 else ("baseline", "calcifer")
        for side in order:
            if side == "calcifer":
                cpu = time.process_time()
                with ctx.session_factory() as session:
                    forced.append(timed(lambda: index.sync_from_git(session=session, repo_path=repo_path,
                                                                    force=True))[0])
                forced_cpu.append(time.process_time() - cpu)
            else:
                cpu = time.process_time()
                seconds, parsed = timed(lambda: baseline_parse(repo_path))
                base_cpu.append(time.process_time() - cpu)
                base_times.append(seconds)
    one_change: list[float] = []
    for k in range(rounds):
        path = f"catalog/services/{catalog.services[-1 - k].slug}.yaml"
        text = catalog.files[path].replace("description: ", "description: (changed) ", 1)
        catalog.files[path] = text
        fast_import(repo_path, [(f"Change one file ({k})\n", {path: text})], env)
        with ctx.session_factory() as session:
            one_change.append(timed(lambda: index.sync_from_git(session=session, repo_path=repo_path))[0])
    t_base = median(base_times)
    t_forced = median(forced)
    t_one = median(one_change)

    if args.profile:
        with ctx.session_factory() as session:
            print("\nprofile: forced full sync (cumulative)")
            print(profile_text(lambda: index.sync_from_git(session=session, repo_path=repo_path, force=True), 30))

    # -- the admin and a token --------------------------------------------------------------------------
    with ctx.session_factory() as session:
        admin = auth_service.create_user(session=session, actor=None, data=UserCreate(
            username="bench-admin", password="bench password long enough", role=Role.ADMIN))
        _, token = auth_service.create_token(session=session, actor=admin, owner=admin, name="bench")
    slugs = [s.slug for s in catalog.services]
    ctx.engine.dispose()

    # -- pages ---------------------------------------------------------------------------------------------
    import httpx

    print(f"  sync done (cold {t_cold:.2f} s, forced {t_forced:.2f} s); starting the server ...", flush=True)
    proc, base = start_server(data_dir)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            cursor = client.get("/api/v1/services", params={"limit": 50}).json()["next_cursor"]
            filtered_cursor = client.get("/api/v1/services", params={"limit": 50, "tag": FILTER_TAG,
                                                                     "kind": "container"}).json()["next_cursor"]
            t_api_sync, response = timed(lambda: client.post("/api/v1/catalog/sync"))
            response.raise_for_status()
            hub_page = client.get(f"/api/v1/services/{HUB}").json()
        pick = random.Random(11)
        random_slugs = pick.sample(slugs, min(60, len(slugs)))
        centers = pick.sample(slugs, min(30, len(slugs)))
        hardware = [s.slug for s in catalog.services if s.kind == "bare_metal"]
        scenarios = [
            Scenario("healthz", "GET /healthz (baseline)", ["/healthz"], is_page=False),
            Scenario("services", "GET /services", ["/services"]),
            Scenario("services_q", f"GET /services?q={FILTER_Q}", [f"/services?q={FILTER_Q}"]),
            Scenario("services_filter", f"GET /services?tag={FILTER_TAG}&kind=container",
                     [f"/services?tag={FILTER_TAG}&kind=container"]),
            Scenario("services_page2", "GET /services?cursor=(2nd page)", [f"/services?cursor={cursor}"]),
            Scenario("services_filter_page2", "GET /services?tag&kind&cursor (2nd page)",
                     [f"/services?tag={FILTER_TAG}&kind=container&cursor={filtered_cursor}"]),
            Scenario("service_random", "GET /services/<random slug>", [f"/services/{s}" for s in random_slugs]),
            Scenario("service_hub", f"GET /services/{HUB} (hub)", [f"/services/{HUB}"]),
            Scenario("service_hardware", "GET /services/<hardware host>",
                     [f"/services/{s}" for s in hardware[:10]]),
            Scenario("api_service_hub", f"GET /api/v1/services/{HUB}", [f"/api/v1/services/{HUB}"]),
            Scenario("graph_all", "GET /api/v1/catalog/graph?limit=2000", ["/api/v1/catalog/graph?limit=2000"]),
            Scenario("graph_center", "GET /api/v1/catalog/graph?center=<random>&depth=2",
                     [f"/api/v1/catalog/graph?center={s}&depth=2" for s in centers]),
            Scenario("graph_center_hub", f"GET /api/v1/catalog/graph?center={HUB}&depth=2",
                     [f"/api/v1/catalog/graph?center={HUB}&depth=2"]),
        ]
        print(f"  server on {base}; {n_requests} requests per scenario from one measured client with "
              f"{args.background} background client(s); then {args.crowd} concurrent clients ...", flush=True)
        results: dict[str, dict[str, Any]] = {}
        crowd: dict[str, dict[str, Any]] = {}
        # The generated catalog stays in this (client) process: keep it out of the collector's passes,
        # so client-side garbage collection does not add to the measured latencies.
        gc.collect()
        gc.freeze()
        load_before = os.getloadavg()[0]
        n_solo = max(8, n_requests // 6)
        for scenario in scenarios:
            auth = None if scenario.key == "healthz" else token
            results[scenario.key] = run_scenario(base, auth, scenario, n_requests, 1, warmup=2,
                                                 background=args.background)
            # The same requests from one client, one at a time: the service time without queueing.
            results[scenario.key]["solo_p50_ms"] = run_scenario(base, auth, scenario, n_solo, 1, warmup=1)["p50_ms"]
            if args.crowd > 1:
                crowd[scenario.key] = run_scenario(base, auth, scenario, n_requests, args.crowd,
                                                   warmup=2 * args.crowd)
        # healthz again at the end: the baseline brackets the pages (the machine's load can drift).
        tail = run_scenario(base, None, scenarios[0], n_requests, 1, warmup=2, background=args.background)
        load_after = os.getloadavg()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    if args.profile:
        profile_pages(settings, token, [s for s in scenarios if s.is_page])

    # -- report ---------------------------------------------------------------------------------------------
    health_p95 = median([results["healthz"]["p95_ms"], tail["p95_ms"]])
    health_p50 = median([results["healthz"]["p50_ms"], tail["p50_ms"]])
    print()
    print(f"catalog: {catalog.n_services:,} services (+1 broken file), {catalog.n_endpoints - 3:,} endpoints "
          f"(+3 orphans, +1 broken; {catalog.n_nested:,} nested, {catalog.n_standalone:,} with no service), "
          f"{edges:,} edges ({catalog.edges_host:,} host, {catalog.edges_depends:,} depends_on); "
          f"{HUB} has {catalog.hub_dependents:,} direct dependents ({len(hub_page['downstream']):,} "
          f"transitive), max fan-out {catalog.max_fan_out}; {len(commits) + rounds} commits on main; "
          f"problems {result.errors} errors + {result.warnings} warnings (as generated)")
    print()
    print("sync (in-process, SQLite)")
    sync_rows = [
        ["cold: first sync into an empty index", f"{t_cold:.2f}", f"{t_base:.2f}", f"{ratio(t_cold, t_base):.1f}",
         f"< {TARGET_SYNC_S:.0f}", "yes" if t_cold < TARGET_SYNC_S else "NO"],
        [f"forced full re-sync (median of {rounds})", f"{t_forced:.2f}", f"{t_base:.2f}",
         f"{ratio(t_forced, t_base):.1f}", f"< {TARGET_SYNC_S:.0f}", "yes" if t_forced < TARGET_SYNC_S else "NO"],
        [f"one file changed (median of {rounds})", f"{t_one:.2f}", f"{t_base:.2f}", f"{ratio(t_one, t_base):.1f}",
         "-", "-"],
        ["POST /api/v1/catalog/sync (forced, via HTTP)", f"{t_api_sync:.2f}", f"{t_base:.2f}",
         f"{ratio(t_api_sync, t_base):.1f}", f"< {TARGET_SYNC_S:.0f}", "yes" if t_api_sync < TARGET_SYNC_S else "NO"],
    ]
    print_table(["sync", "seconds", "baseline s", "ratio", "target", "met"], sync_rows)
    print(f"CPU seconds of the forced re-sync {median(forced_cpu):.2f} vs the baseline's {median(base_cpu):.2f} "
          f"(ratio {ratio(median(forced_cpu), median(base_cpu)):.1f}; medians of {rounds})")
    print(f"baseline: pygit2 reads all {parsed:,} parseable catalog blobs and libyaml (ruamel CSafeLoader) parses "
          f"them; no validation, no checks, no database (median of {rounds}: {t_base:.2f} s)")
    print()
    crowd_label = f"p95 {args.crowd} clients" if crowd else ""
    print(f"pages and API over HTTP: one uvicorn worker (calcifer serve's default); p50/p95 of {n_requests} "
          f"requests a scenario from one measured client while {args.background} background client(s) send the "
          f"same scenario's requests (the issue's \"under a concurrent client\"); 'solo p50' = {n_solo} requests "
          f"from one client alone"
          + (f"; '{crowd_label}' = the p95 when {args.crowd} clients share the requests (extra, no target)"
             if crowd else "")
          + f"; baseline /healthz p95 {health_p95:.1f} ms (median of the runs before and after); 1-minute load "
          f"average of the machine {load_before:.1f} before, {load_after:.1f} after ({os.cpu_count()} CPUs)")
    rows = []
    pages: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        figures = results[scenario.key]
        rel = ratio(figures["p95_ms"], health_p95)
        met = figures["p95_ms"] < TARGET_PAGE_P95_MS
        rows.append([scenario.label, figures["requests"], f"{figures['solo_p50_ms']:.1f}", f"{figures['p50_ms']:.1f}",
                     f"{figures['p95_ms']:.1f}",
                     f"{figures['max_ms']:.0f}", f"{figures['per_s']:.0f}", f"{figures['kib']:.0f}",
                     f"{rel:.1f}", f"< {TARGET_PAGE_P95_MS:.0f}" if scenario.is_page else "-",
                     ("yes" if met else "NO") if scenario.is_page else "-"]
                    + ([f"{crowd[scenario.key]['p95_ms']:.1f}"] if crowd else []))
        pages[scenario.key] = {"path": scenario.paths[0] if len(scenario.paths) == 1 else scenario.label,
                               "requests": figures["requests"], "solo_p50_ms": rounded(figures["solo_p50_ms"], 1),
                               "p50_ms": rounded(figures["p50_ms"], 1),
                               "p95_ms": rounded(figures["p95_ms"], 1), "max_ms": rounded(figures["max_ms"], 1),
                               "req_per_s": rounded(figures["per_s"], 1), "kib": rounded(figures["kib"], 1),
                               "ratio_p95_to_healthz": rounded(rel, 2),
                               "background_requests": figures["background_requests"],
                               "meets_target": met if scenario.is_page else None}
        if crowd:
            pages[scenario.key]["crowd"] = {"clients": args.crowd,
                                            "p50_ms": rounded(crowd[scenario.key]["p50_ms"], 1),
                                            "p95_ms": rounded(crowd[scenario.key]["p95_ms"], 1)}
    rows.append(["GET /healthz (baseline, again at the end)", tail["requests"], "-", f"{tail['p50_ms']:.1f}",
                 f"{tail['p95_ms']:.1f}", f"{tail['max_ms']:.0f}", f"{tail['per_s']:.0f}", f"{tail['kib']:.0f}",
                 f"{ratio(tail['p95_ms'], health_p95):.1f}", "-", "-"] + (["-"] if crowd else []))
    print_table(["request", "n", "solo p50", "p50 ms", "p95 ms", "max ms", "req/s", "KiB", "p95/healthz", "target",
                 "met"] + ([crowd_label] if crowd else []), rows)
    page_keys = [s.key for s in scenarios if s.is_page]
    worst = max(page_keys, key=lambda k: results[k]["p95_ms"])
    pages_met = all(results[k]["p95_ms"] < TARGET_PAGE_P95_MS for k in page_keys)
    sync_met = t_cold < TARGET_SYNC_S and t_forced < TARGET_SYNC_S
    print()
    print(f"targets: full sync < {TARGET_SYNC_S:.0f} s: {'met' if sync_met else 'NOT met'}; every page p95 < "
          f"{TARGET_PAGE_P95_MS:.0f} ms: {'met' if pages_met else 'NOT met'} (worst: {worst}, "
          f"{results[worst]['p95_ms']:.1f} ms)")
    emit_json({
        "bench": "catalog_scale", "mode": mode, "services": catalog.n_services, "endpoints": catalog.n_endpoints,
        "nested_endpoints": catalog.n_nested, "serviceless_endpoints": catalog.n_standalone, "edges": edges,
        "hub": HUB, "hub_direct_dependents": catalog.hub_dependents,
        "hub_transitive_dependents": len(hub_page["downstream"]), "max_fan_out": catalog.max_fan_out,
        "commits": len(commits) + rounds, "files": len(catalog.files), "files_kib": rounded(blob_kib, 0),
        "problems": {"errors": result.errors, "warnings": result.warnings},
        "clients": {"measured": 1, "background": args.background,
                    "reading": "one measured client plus one concurrent background client ('under a concurrent "
                               "client'); the crowd figures are extra, without a target",
                    "crowd": args.crowd if crowd else 0},
        "requests_per_scenario": n_requests, "solo_requests": n_solo,
        "server_workers": 1, "load_avg_1m": {"before_pages": rounded(load_before, 2),
                                             "after_pages": rounded(load_after, 2)}, "cpus": os.cpu_count(),
        "sync": {
            "cold_s": rounded(t_cold, 3), "forced_s_median": rounded(t_forced, 3),
            "forced_s": [rounded(v, 3) for v in forced], "forced_cpu_s_median": rounded(median(forced_cpu), 3),
            "baseline_cpu_s_median": rounded(median(base_cpu), 3), "one_file_s_median": rounded(t_one, 3),
            "api_forced_s": rounded(t_api_sync, 3), "baseline_s_median": rounded(t_base, 3),
            "baseline": "pygit2 read + libyaml parse of every catalog blob, no validation/checks/DB",
            "ratio_cold": rounded(ratio(t_cold, t_base), 2), "ratio_forced": rounded(ratio(t_forced, t_base), 2),
            "ratio_one_file": rounded(ratio(t_one, t_base), 2), "ratio_api": rounded(ratio(t_api_sync, t_base), 2),
            "meets_target": sync_met,
        },
        "healthz": {"p50_ms": rounded(health_p50, 1), "p95_ms": rounded(health_p95, 1),
                    "solo_p50_ms": rounded(results["healthz"]["solo_p50_ms"], 1),
                    "p95_ms_before": rounded(results["healthz"]["p95_ms"], 1),
                    "p95_ms_after": rounded(tail["p95_ms"], 1)},
        "pages": {k: v for k, v in pages.items() if k != "healthz"},
        "worst_page": worst, "pages_meet_target": pages_met,
        "targets": {"full_sync_s": TARGET_SYNC_S, "page_p95_ms": TARGET_PAGE_P95_MS},
        "meets_targets": sync_met and pages_met,
    })
    return 0


def profile_pages(settings: Any, token: str, scenarios: list[Scenario]) -> None:
    """cProfile each page in-process, everything on this thread: the app is called through httpx's ASGI
    transport and ``anyio.to_thread.run_sync`` (where Starlette sends sync routes and dependencies) runs
    the function inline, so the profile sees the route, the queries and the template, not a lock wait."""
    import asyncio

    import anyio.to_thread
    import httpx

    from calcifer.app import create_app, prepare

    async def inline(func: Callable[..., Any], *args: Any, **_kwargs: Any) -> Any:
        return func(*args)

    async def profile_all() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            for scenario in scenarios:
                path = scenario.paths[0]
                (await client.get(path)).raise_for_status()  # warm-up
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(5):
                    await client.get(path)
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("cumulative").print_stats(r"calcifer/", 14)
                stats.sort_stats("tottime").print_stats(8)
                print(f"\nprofile: {scenario.label} ({path[:70]}): {median(times):.1f} ms a request "
                      "in-process, one client (median of 5); 5 requests profiled")
                print("\n".join(line[:200] for line in out.getvalue().splitlines()
                                if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced"))))

    original = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline  # type: ignore[assignment]
    ctx = prepare(settings, reconcile=False)
    app = create_app(ctx=ctx)
    try:
        asyncio.run(profile_all())
    finally:
        anyio.to_thread.run_sync = original
        ctx.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
