// The dependency graph page: fetches /api/v1/catalog/graph and draws it with the vendored cytoscape.
(function () {
  "use strict";
  var box = document.getElementById("graph");
  var status = document.getElementById("graph-status");
  if (!box || typeof cytoscape === "undefined") { return; }
  var params = new URLSearchParams();
  ["center", "depth", "tag", "host"].forEach(function (key) {
    var value = box.dataset[key];
    if (value) { params.set(key, value); }
  });
  params.set("limit", "2000");
  var css = getComputedStyle(document.documentElement);
  function color(name, fallback) { return (css.getPropertyValue(name) || fallback).trim() || fallback; }
  // A node's colour is the worst live status of its service's endpoints (the legend on the page).
  var healthColors = { down: color("--red-bd", "#b03a3a"), degraded: color("--amber-bd", "#9a6b12"),
                       unknown: color("--gray-bd", "#c4c9d1"), up: color("--green-bd", "#1f7a45"),
                       paused: color("--gray-bg", "#e5e7eb"), none: color("--surface", "#fff") };
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) { throw new Error("The graph could not be loaded (HTTP " + response.status + ")."); }
      return response.json();
    });
  }
  Promise.all([getJSON("/api/v1/catalog/graph?" + params.toString()), getJSON("/api/v1/catalog/graph/health")])
    .then(function (answers) {
      var data = answers[0], health = answers[1].services || {};
      var elements = data.nodes.map(function (n) {
        return { data: { id: n.id, label: n.label || n.id, status: n.status, health: health[n.id] || "none",
                         center: n.id === box.dataset.center } };
      }).concat(data.edges.map(function (e, i) {
        return { data: { id: "e" + i, source: e.source, target: e.target, kind: e.kind } };
      }));
      if (!data.nodes.length) {
        status.textContent = "Nothing to draw: the catalog is empty, or the filters match no service.";
        return;
      }
      status.textContent = data.nodes.length + (data.nodes.length === 1 ? " service, " : " services, ") +
        data.edges.length + (data.edges.length === 1 ? " link" : " links") +
        (data.truncated ? " (truncated: narrow it with a tag, a host or a centre service)" : "") + ".";
      var cy = cytoscape({
        container: box, elements: elements, wheelSensitivity: 0.3, maxZoom: 2.5, minZoom: 0.05,
        layout: { name: data.nodes.length > 300 ? "grid" : "cose", animate: false, padding: 40 },
        style: [
          { selector: "node", style: { "label": "data(label)", "font-size": 11, "color": color("--text", "#222"),
            "background-color": function (n) { return healthColors[n.data("health")] || healthColors.none; },
            "border-width": 1, "border-color": color("--border", "#bbb"),
            "opacity": function (n) { return n.data("status") === "retired" ? 0.45 : 1; },
            "text-valign": "bottom", "text-margin-y": 4, "width": 16, "height": 16,
            "text-background-color": color("--surface", "#fff"), "text-background-opacity": 0.8,
            "text-background-padding": 2 } },
          { selector: "node[health = 'paused']", style: { "border-style": "dashed", "border-width": 2 } },
          { selector: "node[?center]", style: { "width": 26, "height": 26, "border-width": 3,
            "border-color": color("--accent", "#0969da") } },
          { selector: "edge", style: { "width": 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
            "line-color": color("--border", "#bbb"), "target-arrow-color": color("--border", "#bbb") } },
          { selector: "edge[kind = 'host']", style: { "line-style": "dashed" } }
        ]
      });
      cy.on("tap", "node", function (evt) { window.location.href = "/services/" + encodeURIComponent(evt.target.id()); });
      window.calciferGraph = cy;
    })
    .catch(function (err) { status.textContent = err.message + " Reload the page to try again."; });
})();
