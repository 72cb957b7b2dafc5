// @mention autocomplete for comment boxes (textarea[data-mentions]): while the word before the caret
// starts with "@", ask /api/v1/mention-suggestions and offer the names in the listbox that follows the box.
(function () {
  "use strict";
  function wordBefore(box) {
    var text = box.value.slice(0, box.selectionStart);
    var match = /(^|[\s(])@([A-Za-z0-9._-]{0,63})$/.exec(text);
    return match ? match[2] : null;
  }
  function insert(box, name) {
    var end = box.selectionStart;
    var start = box.value.slice(0, end).lastIndexOf("@");
    box.value = box.value.slice(0, start) + "@" + name + " " + box.value.slice(end);
    var caret = start + name.length + 2;
    box.setSelectionRange(caret, caret);
    box.focus();
  }
  function attach(box) {
    var list = box.nextElementSibling;
    if (!list || !list.classList.contains("mention-suggestions")) { return; }
    var timer = null;
    box.addEventListener("input", function () {
      var prefix = wordBefore(box);
      clearTimeout(timer);
      if (prefix === null) { list.hidden = true; return; }
      timer = setTimeout(function () {
        fetch("/api/v1/mention-suggestions?q=" + encodeURIComponent(prefix), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : {items: []}; })
          .then(function (data) {
            list.replaceChildren();
            data.items.forEach(function (name) {
              var item = document.createElement("li");
              var button = document.createElement("button");
              button.type = "button";
              button.className = "link-button";
              button.setAttribute("role", "option");
              button.textContent = "@" + name;
              button.addEventListener("click", function () { insert(box, name); list.hidden = true; });
              item.appendChild(button);
              list.appendChild(item);
            });
            list.hidden = data.items.length === 0;
          });
      }, 150);
    });
  }
  function scan(root) {
    root.querySelectorAll("textarea[data-mentions]:not([data-mentions-ready])").forEach(function (box) {
      box.setAttribute("data-mentions-ready", "");
      attach(box);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function (event) { scan(event.target); });
})();
