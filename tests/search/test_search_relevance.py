"""What a search finds and in which order: titles first, phrases, kinds, and an index that follows every change."""

from __future__ import annotations

import pytest

from calcifer.search import engines
from tests.conftest import Cast
from tests.search.helpers import WORK_LOG, keys, land, search
from tests.work.helpers import make_work_item

FILLER = "This page explains how the homelab is run, who to call and what to check first. " * 3


def test_a_title_match_ranks_above_a_body_match(cast: Cast) -> None:
    land(cast.editor, {
        "docs/body.md": f"# Storage notes\n\n{FILLER}\nThe quokka array holds backups. Quokka disks are "
                        "checked weekly; quokka alerts go to the on-call person.\n",
        "docs/title.md": f"# Quokka runbook\n\n{FILLER}\n",
    })
    found = keys(cast.viewer, "quokka", kind="doc")
    assert found == [("doc", "docs/title.md"), ("doc", "docs/body.md")]
    scores = [hit["score"] for hit in search(cast.viewer, "quokka", kind="doc")["items"]]
    assert scores[0] > scores[1]


def test_front_matter_title_counts_as_the_title(cast: Cast) -> None:
    land(cast.editor, {
        "docs/fm.md": "---\ntitle: Wombat gateway\ntags: [net]\n---\n\n# Something else\n\nPlain text.\n",
        "docs/other.md": "# Other\n\nThe wombat gateway is described elsewhere, wombat wombat.\n",
    })
    hits = search(cast.viewer, "wombat", kind="doc")["items"]
    assert [h["key"] for h in hits] == ["docs/fm.md", "docs/other.md"]
    assert hits[0]["title"] == "Wombat gateway" and hits[0]["url"] == "/docs/view/docs/fm.md"


def test_words_in_very_many_rows_still_rank_title_matches_first(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past RANK_ALL matches the engines rank title matches, then a sample of body matches: shrink it.
    monkeypatch.setattr(engines, "RANK_ALL", 3)
    monkeypatch.setattr(engines, "RANK_ALL_PG", 3)
    files = {f"docs/b{n}.md": f"# Body {n}\n\nThe ferret cage number {n}.\n" for n in range(8)}
    files |= {"docs/t1.md": "# Ferret care\n\nFood.\n", "docs/t2.md": "# Ferret toys\n\nBalls.\n"}
    land(cast.editor, files)
    first = search(cast.viewer, "ferret", kind="doc", limit=3)
    assert first["total"] >= 10
    assert {h["key"] for h in first["items"][:2]} == {"docs/t1.md", "docs/t2.md"}
    seen = [h["key"] for h in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = search(cast.viewer, "ferret", kind="doc", limit=3, cursor=cursor)
        seen += [h["key"] for h in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == first["total"]  # every match once, in pages


def test_a_phrase_query_matches_the_words_in_order(cast: Cast) -> None:
    land(cast.editor, {
        "docs/a.md": "# Failover\n\nFirst restart the primary database, then the replicas.\n",
        "docs/b.md": "# Replicas\n\nThe database is never primary here; restart it last.\n",
    })
    assert set(keys(cast.viewer, "primary database", kind="doc")) == {("doc", "docs/a.md"), ("doc", "docs/b.md")}
    assert keys(cast.viewer, '"primary database"', kind="doc") == [("doc", "docs/a.md")]
    assert keys(cast.viewer, '"database primary"', kind="doc") == []
    hit = search(cast.viewer, '"primary database"', kind="doc")["items"][0]
    assert "<mark>primary</mark> <mark>database</mark>" in hit["snippet"]


def test_the_last_word_matches_as_a_prefix_while_typing(cast: Cast) -> None:
    land(cast.editor, {"docs/graf.md": "# Grafana dashboards\n\nPanels for the cluster.\n"})
    assert ("doc", "docs/graf.md") in keys(cast.viewer, "graf")
    assert ("doc", "docs/graf.md") in keys(cast.viewer, "cluster dash")
    assert ("doc", "docs/graf.md") not in keys(cast.viewer, "graf ")  # a finished word is a whole word
    assert ("doc", "docs/graf.md") not in keys(cast.viewer, "dash cluster")


def test_a_doc_edited_in_a_merged_work_item_is_found_by_its_new_words_not_its_old_ones(cast: Cast) -> None:
    land(cast.editor, {"docs/net/vpn.md": "# VPN\n\nThe tunnel uses zebulon keys.\n"})
    assert keys(cast.viewer, "zebulon") == [("doc", "docs/net/vpn.md")]

    land(cast.editor, {"docs/net/vpn.md": "# VPN\n\nThe tunnel uses marmalade certificates.\n"},
         title="Rotate keys", entry="Rotated the tunnel credentials")
    assert keys(cast.viewer, "zebulon") == []
    assert keys(cast.viewer, "marmalade") == [("doc", "docs/net/vpn.md")]

    land(cast.editor, {"docs/net/vpn.md": None}, title="Drop page", entry="Removed the tunnel page",
         entry_type="Removed")
    assert keys(cast.viewer, "marmalade") == []


def test_templates_are_not_searched(cast: Cast) -> None:
    land(cast.editor, {"docs/_templates/runbook.md": "# Runbook template\n\nxylophone placeholder\n"})
    assert keys(cast.viewer, "xylophone") == []


def test_the_kind_filter_keeps_only_those_kinds(cast: Cast) -> None:
    land(cast.editor, {"docs/pelican.md": "# Pelican proxy\n\nThe pelican proxy fronts everything.\n"},
         title="Pelican proxy docs", entry="Documented the pelican proxy")
    everything = search(cast.viewer, "pelican")
    kinds = {hit["kind"] for hit in everything["items"]}
    assert {"doc", "work_item", "changelog"} <= kinds
    assert everything["total"] == len(everything["items"]) == sum(everything["counts"].values())
    only_docs = search(cast.viewer, "pelican", kind="doc")
    assert {h["kind"] for h in only_docs["items"]} == {"doc"}
    assert ("doc", "docs/pelican.md") in keys(cast.viewer, "pelican", kind="doc")
    assert only_docs["total"] == everything["counts"]["doc"] == len(only_docs["items"])
    assert only_docs["counts"] == everything["counts"]  # counts ignore the filter: they label the choices
    two = search(cast.viewer, "pelican", kind="doc,work_item")
    assert {h["kind"] for h in two["items"]} == {"doc", "work_item"}
    bad = cast.viewer.get("/api/v1/search", params={"q": "pelican", "kind": "wiki"})
    assert bad.status_code == 422 and "work_item" in bad.json()["error"]["message"]


def test_a_work_item_is_found_by_its_notes_right_after_patch(cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Replace the UPS", description="The old one beeps.")
    assert keys(cast.viewer, "beeps") == [("work_item", str(item["id"]))]
    assert keys(cast.viewer, "capybara") == []
    response = cast.editor.patch(f"/api/v1/work-items/{item['id']}",
                                 json={"notes": "Swapped the battery; capybara model 1500 VA."})
    assert response.status_code == 200
    hits = search(cast.viewer, "capybara")["items"]
    assert [(h["kind"], h["key"]) for h in hits] == [("work_item", str(item["id"]))]
    assert hits[0]["url"] == f"/work/{item['id']}" and hits[0]["title"] == "Replace the UPS"
    assert "<mark>capybara</mark>" in hits[0]["snippet"]
    # the branch name is searchable too
    assert ("work_item", str(item["id"])) in keys(cast.viewer, item["branch"].split("/")[-1])


def test_a_work_item_title_change_is_searchable_at_once(cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Plan the move")
    cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"title": "Plan the narwhal move"})
    assert keys(cast.viewer, "narwhal") == [("work_item", str(item["id"]))]


def test_services_and_endpoints_are_found_after_a_catalog_merge(cast: Cast) -> None:
    land(cast.editor, {
        "catalog/services/okapi-vault.yaml": "name: Okapi Vault\nslug: okapi-vault\nkind: container\n"
                                             "description: Secrets for the lab, unsealed by hand.\n"
                                             "tags: [secrets]\n",
        "catalog/endpoints/okapi-vault-http.yaml": "name: Okapi Vault UI\nslug: okapi-vault-http\n"
                                                   "service: okapi-vault\ntype: http\n"
                                                   "target: https://vault.lab.example/ui\n",
    }, title="Add the vault", entry="Added the vault service")
    found = keys(cast.viewer, "okapi")
    assert ("service", "okapi-vault") in found and ("endpoint", "okapi-vault-http") in found
    assert keys(cast.viewer, "unsealed") == [("service", "okapi-vault")]
    service = search(cast.viewer, "okapi", kind="service")["items"][0]
    assert service["url"] == "/services/okapi-vault" and service["title"] == "Okapi Vault"
    endpoint = search(cast.viewer, "vault.lab.example", kind="endpoint")["items"][0]
    assert endpoint["url"] == "/endpoints/okapi-vault-http"

    land(cast.editor, {"catalog/services/okapi-vault.yaml": None,
                       "catalog/endpoints/okapi-vault-http.yaml": None},
         title="Retire the vault", entry="Removed the vault", entry_type="Removed")
    assert [k for k in keys(cast.viewer, "okapi") if k[0] in ("service", "endpoint")] == []


def test_changelog_entries_are_found_and_link_their_work_item(cast: Cast) -> None:
    item = land(cast.editor, {"docs/dns.md": "# DNS\n\nResolvers.\n"}, title="DNS docs",
                entry="Moved the resolvers to the axolotl subnet", entry_type="Changed")
    hits = [h for h in search(cast.viewer, "axolotl")["items"] if not h["key"].startswith(WORK_LOG)]
    assert [(h["kind"], h["url"]) for h in hits] == [("changelog", f"/work/{item['id']}")]
    assert hits[0]["title"] == "Moved the resolvers to the axolotl subnet"
    assert "Changed" in hits[0]["meta"]
    assert [h["kind"] for h in search(cast.viewer, "axolotl subnet", kind="changelog")["items"]] == ["changelog"]


def test_empty_query_gives_no_items_and_viewers_may_search_but_strangers_may_not(cast: Cast) -> None:
    assert search(cast.viewer, "") == {"items": [], "total": 0, "counts": {}, "next_cursor": None}
    assert search(cast.viewer, "   ")["items"] == []
    assert cast.outsider.get("/api/v1/search", params={"q": "x"}).status_code == 401


def test_results_come_a_page_at_a_time(cast: Cast) -> None:
    land(cast.editor, {f"docs/page-{n}.md": f"# Page {n}\n\nibis notes number {n}\n" for n in range(7)})
    first = search(cast.viewer, "ibis", kind="doc", limit=3)
    assert len(first["items"]) == 3 and first["total"] == 7 and first["next_cursor"]
    seen = [h["key"] for h in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = search(cast.viewer, "ibis", kind="doc", limit=3, cursor=cursor)
        seen += [h["key"] for h in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(f"docs/page-{n}.md" for n in range(7))
    bad = cast.viewer.get("/api/v1/search", params={"q": "ibis", "cursor": "abc"})
    assert bad.status_code == 422
