"""Every list the JSON API answers pages the same way: `cursor` in, `next_cursor` out (read from the document)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cast

# Operations whose answer holds a list that is bounded by nature, so it has no cursor: for each, the lists
# (top-level fields) that are allowed, and why. Another list in one of these answers needs its own entry.
UNPAGED: dict[str, tuple[set[str], str]] = {
    # A drawing of the catalog: nodes and edges must arrive together; it has its own `limit` on nodes.
    "/api/v1/catalog/graph": ({"nodes", "edges"}, "a graph answered whole, capped by its own `limit`"),
    # One commit's files, capped at history.service.MAX_FILES with `files_left_out` saying how many were not.
    "/api/v1/commits/{commit_id}": ({"files"}, "one commit's files, capped with files_left_out"),
    # A comparison: commits capped at 250 and files at 300, commits_total and files_total count them all.
    "/api/v1/compare": ({"commits", "files"}, "one comparison, capped, with the totals"),
    "/api/v1/docs/{path}": ({"toc", "links", "backlinks"}, "parts of one doc"),
    "/api/v1/incidents/{incident_id}": ({"affected_services", "related_work", "notes", "timeline"},
                                        "parts of one incident; its timeline is capped by the service"),
    "/api/v1/repository/remote": ({"last_fetch_files"}, "the last fetch's files, capped at MAX_FETCH_FILES"),
    "/api/v1/maintenance-windows/{window_id}": ({"services", "endpoints"}, "the scope of one window"),
    "/api/v1/monitoring/endpoints/{slug}/series": ({"points"}, "a chart: a fixed number of buckets per range"),
    "/api/v1/monitoring/endpoints/{slug}/locations": ({"locations"}, "a row per location its file names, at most 20"),
    "/api/v1/probes/assignments": ({"endpoints"}, "a probe's whole schedule under one ETag (304 when unchanged)"),
    "/api/v1/monitoring/endpoints/{slug}/uptime": ({"days"}, "one entry per day asked for, at most 366"),
    "/api/v1/notification-channels/{channel_id}": ({"services", "tags", "endpoints", "events"},
                                                   "the filters of one channel"),
    "/api/v1/services/{slug}": ({"tags", "depends_on", "host_chain", "upstream", "downstream", "endpoints"},
                                "parts of one service"),
    # Who is affected when a service goes down is one answer; half of it would mislead.
    "/api/v1/services/{slug}/impact": ({"direct", "transitive"}, "a service's dependents, answered whole"),
    "/api/v1/templates/{name}": ({"placeholders"}, "the placeholders of one template"),
    "/api/v1/webhooks/{webhook_id}": ({"events", "services", "tags", "categories"},
                                      "the events and filters of one webhook (at most 200 each)"),
    "/api/v1/work-items/{item_id}": ({"checklist"}, "one work item's checklist"),
    "/api/v1/comments/{comment_id}": ({"history", "mentions"}, "one comment's edits (15 minutes of them) and its "
                                      "mentions (at most 50)"),
    "/api/v1/plugins": ({"items"}, "the plugins installed in this Python environment, a handful, answered whole"),
    "/api/v1/mention-suggestions": ({"items"}, "autocomplete: at most 10 usernames"),
    "/api/v1/work-items/{item_id}/timeline": ({"items"}, "one work item's activity in time order, answered whole "
                                               "(its latest 500 audit entries and first 500 comments)"),
    # A precondition failure lists every unmet rule at once (docs/api.md), so these are never paged.
    "/api/v1/work-items/{item_id}/branch": ({"conflicts"}, "every conflicted file at once"),
    "/api/v1/work-items/{item_id}/merge-check": ({"problems", "warnings", "on_main"},
                                                 "every unmet merge rule at once"),
}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _is_array(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])  # `list[X] | None` is an anyOf
    return any(_resolve(document, option).get("type") == "array" for option in options)


def test_every_list_in_the_api_takes_a_cursor_and_answers_next_cursor(cast: Cast) -> None:
    response = cast.viewer.get("/api/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    unpaged, allowed_seen, wrong_allowance = [], set(), []
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if not path.startswith("/api/v1/") or operation is None:
            continue
        schema = operation["responses"]["200"].get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        answer = _resolve(document, schema)
        lists = ({"(the answer)"} if answer.get("type") == "array" else
                 {name for name, field in answer.get("properties", {}).items() if _is_array(document, field)})
        if not lists:
            continue
        params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if {"cursor", "limit"} <= params and "next_cursor" in answer.get("properties", {}):
            continue
        if path in UNPAGED:
            allowed_seen.add(path)
            if lists != UNPAGED[path][0]:
                wrong_allowance.append(f"GET {path}: lists {sorted(lists)}, allowed {sorted(UNPAGED[path][0])}")
            continue
        unpaged.append(f"GET {path}: {sorted(lists)}")
    assert unpaged == [], "these lists need `cursor`/`limit` in and `next_cursor` out (or an UNPAGED reason)"
    assert wrong_allowance == []
    assert set(UNPAGED) - allowed_seen == set(), "UNPAGED names operations that are paged or gone"
