"""What runs where and what needs what, answered from the catalog index.

An edge ``a → b`` means "a needs b": a depends on b (``depends_on``) or runs on b (``host``). So
``upstream`` follows edges forwards (what a service needs, its hosts included) and ``downstream``
backwards (what stops when it stops, the services hosted on it included). The whole edge table is
loaded once per call and walked in Python: cheap at thousands of services, and cycle-safe.
Only indexed services appear in results; a slug named by a file but defined nowhere is reported
by the index as a problem instead.
"""

from __future__ import annotations

import json
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.catalog.choices import EdgeKind
from calcifer.catalog.models import CatalogEdge, CatalogService, CatalogState, CatalogTag
from calcifer.errors import NotFound

MAX_DEPTH = 10
MAX_NODES = 5000
MAX_WALKS = 256


@dataclass(frozen=True)
class Node:
    slug: str
    name: str
    kind: str
    status: str
    host: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.slug, "label": self.name, "kind": self.kind, "status": self.status,
                "host": self.host}


@dataclass
class Graph:
    """Indexed services and the edges between them (edges to unknown slugs are left out)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    needs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)      # from → [(to, kind)]
    needed_by: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # to → [(from, kind)]
    # graph_json's answers and walks from a service, by their arguments: valid as long as this Graph
    # (one catalog sync). Shared by requests: read-only once stored.
    answers: dict[tuple[Any, ...], bytes] = field(default_factory=dict)
    walks: dict[tuple[Any, ...], list[tuple[str, int]]] = field(default_factory=dict)

    def walk(self, start: str, direction: str, *, kinds: tuple[str, ...] | None = None,
             max_depth: int | None = None) -> list[tuple[str, int]]:
        """``_walk`` over ``needs`` or ``needed_by`` (``direction``), remembered: a hub's page walks
        thousands of dependents, and asks again on every view."""
        key = (start, direction, kinds, max_depth)
        found = self.walks.get(key)
        if found is None:
            adjacency = self.needs if direction == "needs" else self.needed_by
            found = _walk(start, adjacency, kinds=kinds, max_depth=max_depth)
            if len(self.walks) >= MAX_WALKS:
                self.walks.clear()
            self.walks[key] = found
        return found

    def require(self, slug: str) -> Node:
        node = self.nodes.get(slug)
        if node is None:
            raise NotFound(f"No service {slug!r} in the catalog.")
        return node


_LOADED = "calcifer.catalog.graph"  # session.info key: (weakref to the transaction it was read in, Graph)


def load_graph(*, session: Session) -> Graph:
    """Every indexed service and edge, in memory (two queries).

    Read once per database transaction of ``session``: a service page asks for upstream, downstream
    and impact, and each used to read both tables again. The index changes only through
    ``index.sync_from_git``, which commits. The Graph is shared by the calls of one transaction:
    treat it as read-only.
    """
    loaded = session.info.get(_LOADED)
    if loaded is not None and loaded[0]() is not None and loaded[0]() is session.get_transaction():
        return loaded[1]  # type: ignore[no-any-return]
    # Across requests: the index only changes through a sync, which stamps CatalogState; a graph
    # built at the same stamp on the same engine is still right. No stamp (rows written another
    # way), no reuse.
    state = session.get(CatalogState, 1)
    stamp = (state.synced_commit, state.synced_at) if state is not None and state.synced_at else None
    engine_key = id(session.get_bind())
    cached = _BUILT.get(engine_key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        _remember(session, cached[1])
        return cached[1]
    graph = _build(session)
    if stamp is not None:
        _BUILT[engine_key] = (stamp, graph)
    _remember(session, graph)
    return graph


# engine id -> (CatalogState stamp it was built at, Graph): one graph per database per process.
_BUILT: dict[int, tuple[tuple[Any, Any], Graph]] = {}


def _remember(session: Session, graph: Graph) -> None:
    transaction = session.get_transaction()
    if transaction is not None:
        # A weak reference: the transaction refers to the session, and a strong one would make a
        # cycle that kept the session and this Graph alive until the next full garbage collection.
        session.info[_LOADED] = (weakref.ref(transaction), graph)


def _build(session: Session) -> Graph:
    graph = Graph()
    # Core rows on the session's connection (same transaction), consumed one at a time: the ORM's
    # row processing cost as much as the query, and a list of every row (.all()) keeps 20,000 row
    # objects alive at once, which sets off full garbage collections. Flushed first, as
    # session.execute would.
    if session.autoflush:
        session.flush()
    connection = session.connection()
    rows = connection.execute(select(CatalogService.slug, CatalogService.name, CatalogService.kind,
                                     CatalogService.status, CatalogService.host))
    for slug, name, kind, status, host in rows:
        graph.nodes[slug] = Node(slug, name, kind, status, host)
    edges = connection.execute(select(CatalogEdge.from_slug, CatalogEdge.to_slug, CatalogEdge.kind)
                               .order_by(CatalogEdge.from_slug, CatalogEdge.to_slug, CatalogEdge.kind))
    nodes, needs, needed_by = graph.nodes, graph.needs, graph.needed_by
    for source, target, kind in edges:
        if source in nodes and target in nodes:
            needs.setdefault(source, []).append((target, kind))
            needed_by.setdefault(target, []).append((source, kind))
    return graph


class _Both:
    """Each node's edges in both directions, joined when the walk reaches it (building the whole
    undirected map first cost more than a depth-2 walk)."""

    def __init__(self, graph: Graph) -> None:
        self._needs = graph.needs
        self._needed_by = graph.needed_by

    def get(self, node: str, _default: object = ()) -> list[tuple[str, str]]:
        return [*self._needs.get(node, ()), *self._needed_by.get(node, ())]


def _walk(start: str, adjacency: dict[str, list[tuple[str, str]]] | _Both, *,
          kinds: Iterable[str] | None = None, max_depth: int | None = None) -> list[tuple[str, int]]:
    """Breadth-first from ``start`` (excluded): each reachable slug once with its distance, nearest first."""
    allowed = set(kinds) if kinds is not None else None
    seen = {start}
    found: list[tuple[str, int]] = []
    queue = deque([(start, 0)])
    while queue:
        node, depth = queue.popleft()
        if max_depth is not None and depth >= max_depth:
            continue
        for neighbour, kind in adjacency.get(node, ()):
            if neighbour in seen or (allowed is not None and kind not in allowed):
                continue
            seen.add(neighbour)
            found.append((neighbour, depth + 1))
            queue.append((neighbour, depth + 1))
    found.sort(key=lambda item: (item[1], item[0]))  # nearest first, then by slug: stable output
    return found


def host_chain(session: Session, slug: str) -> list[str]:
    """The hosts ``slug`` runs on, nearest first, up to the root (e.g. ``["vm-1", "server-1"]``).

    ``slug`` itself is not in the list. Stops at a host that is not indexed, and at a cycle.
    Raises NotFound when ``slug`` is not an indexed service.
    """
    nodes = load_graph(session=session).nodes  # every indexed service, with its host
    if slug not in nodes:
        raise NotFound(f"No service {slug!r} in the catalog.")
    chain: list[str] = []
    seen = {slug}
    current = nodes[slug].host
    while current is not None and current in nodes and current not in seen:
        chain.append(current)
        seen.add(current)
        current = nodes[current].host
    return chain


def upstream(session: Session, slug: str) -> list[str]:
    """Everything ``slug`` needs, transitively: its dependencies, its hosts, and theirs (nearest first).

    Raises NotFound when ``slug`` is not an indexed service.
    """
    graph = load_graph(session=session)
    graph.require(slug)
    return [node for node, _ in graph.walk(slug, "needs")]


def downstream(session: Session, slug: str) -> list[str]:
    """Everything that needs ``slug``, transitively: its dependents and the services hosted on it
    (and everything that needs those), nearest first. "If this goes down, these are affected."

    Raises NotFound when ``slug`` is not an indexed service.
    """
    graph = load_graph(session=session)
    graph.require(slug)
    return [node for node, _ in graph.walk(slug, "needed_by")]


def impact(session: Session, slug: str) -> dict[str, Any]:
    """Who is affected when ``slug`` goes down.

    Returns ``{"direct": [...], "transitive": [...], "count": n}``: ``direct`` need it themselves
    (depend on it or run on it), ``transitive`` are affected only through others; both sorted, and
    ``count`` is their total. Raises NotFound when ``slug`` is not an indexed service.
    """
    graph = load_graph(session=session)
    graph.require(slug)
    reached = graph.walk(slug, "needed_by")
    direct = sorted(node for node, depth in reached if depth == 1)
    transitive = sorted(node for node, depth in reached if depth > 1)
    return {"direct": direct, "transitive": transitive, "count": len(direct) + len(transitive)}


def graph_data(
    *, session: Session, center: str | None = None, depth: int = 2, tag: str | None = None,
    host: str | None = None, limit: int = 500,
) -> dict[str, Any]:
    """Nodes and edges for drawing the catalog.

    With ``center``: the services within ``depth`` steps of it (either direction), nearest first.
    Without: all services by name. ``tag`` keeps services with that tag; ``host`` keeps that host and
    everything running on it (transitively). At most ``limit`` nodes; ``truncated`` says whether more
    matched. Edges (``source`` needs ``target``; kind ``depends_on`` or ``host``) join shown nodes.
    Returns ``{"nodes": [{"id", "label", "kind", "status", "host"}], "edges": [{"source", "target",
    "kind"}], "truncated": bool}``. Raises NotFound when ``center`` is not an indexed service.
    """
    graph = load_graph(session=session)
    limit = max(1, min(int(limit), MAX_NODES))
    depth = max(0, min(int(depth), MAX_DEPTH))
    allowed: set[str] | None = None
    if tag:
        allowed = set(session.scalars(select(CatalogTag.service_slug).where(CatalogTag.tag == tag)))
    if host:
        hosted = {host} | {node for node, _ in graph.walk(host, "needed_by", kinds=(EdgeKind.HOST.value,))}
        hosted &= set(graph.nodes)
        allowed = hosted if allowed is None else allowed & hosted
    if center is not None:
        graph.require(center)
        around = [center, *(node for node, _ in _walk(center, _Both(graph), max_depth=depth))]
        candidates = [slug for slug in around if allowed is None or slug in allowed or slug == center]
    else:
        pool = graph.nodes.values() if allowed is None else (graph.nodes[s] for s in allowed)
        candidates = [node.slug for node in sorted(pool, key=lambda n: (n.name.lower(), n.slug))]
    shown = candidates[:limit]
    members = set(shown)
    edges = [{"source": source, "target": target, "kind": kind}
             for source in shown for target, kind in graph.needs.get(source, ()) if target in members]
    return {"nodes": [graph.nodes[slug].as_dict() for slug in shown], "edges": edges,
            "truncated": len(candidates) > len(shown)}


MAX_ANSWERS = 64


def graph_json(
    *, session: Session, center: str | None = None, depth: int = 2, tag: str | None = None,
    host: str | None = None, limit: int = 500,
) -> bytes:
    """``graph_data`` as JSON (what the API answers), kept with the graph until the next sync: the
    answer depends only on the index and the arguments. Raises NotFound like ``graph_data``."""
    graph = load_graph(session=session)
    key = (center, depth, tag, host, limit)
    found = graph.answers.get(key)
    if found is None:
        data = graph_data(session=session, center=center, depth=depth, tag=tag, host=host, limit=limit)
        found = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        if len(graph.answers) >= MAX_ANSWERS:
            graph.answers.clear()
        graph.answers[key] = found
    return found
