// The conflicts page (work/conflicts.html): "Start from ours / theirs / both" fill a hunk's edit box.
// The page works without this file; it only saves copying lines by hand.
(function () {
  "use strict";
  function reveal() {
    document.querySelectorAll(".conflict-fill[hidden]").forEach(function (p) { p.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:afterSettle", reveal);
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-fill]");
    if (!button) { return; }
    var box = button.closest("form").querySelector("textarea[name=text]");
    var ours = box.dataset.ours || "";
    var theirs = box.dataset.theirs || "";
    var kind = button.dataset.fill;
    if (kind === "ours") {
      box.value = ours;
    } else if (kind === "theirs") {
      box.value = theirs;
    } else {
      box.value = ours && theirs && ours.slice(-1) !== "\n" ? ours + "\n" + theirs : ours + theirs;
    }
    box.focus();
  });
}());
