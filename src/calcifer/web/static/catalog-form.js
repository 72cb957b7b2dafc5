/* The catalog edit page (catalog/edit.html): live validation as a person types, rows added and removed
   in the ports and links editors, and the options fieldset of the chosen check type.

   Validation is the server's: the form's fields go to /catalog/edit/{kind}/check (read there exactly as
   a save reads them), the YAML tab's text to /api/v1/catalog/validate/{kind}; both answer with the
   merge check's problems. Each problem lands next to its field (the nearest one of its dotted path)
   and in the summary. Without this script the page is a plain form that the server checks on save. */
(function () {
  "use strict";
  const form = document.getElementById("catalog-edit");
  if (!form) return;
  const kind = form.dataset.kind;
  const mode = form.dataset.mode;
  const original = form.dataset.originalSlug || "";
  const csrf = (form.querySelector("input[name=csrf_token]") || {}).value || "";
  const summary = document.getElementById("edit-problems");
  const DELAY_MS = 400;

  form.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
  form.querySelectorAll("[data-no-js]").forEach((el) => { el.hidden = true; });

  // -- the chosen check type's options ---------------------------------------------------------------
  const typeSelect = form.querySelector("[data-type-select]");
  function showOptions() {
    if (!typeSelect) return;
    form.querySelectorAll("[data-options-for]").forEach((set) => {
      const chosen = set.dataset.optionsFor === typeSelect.value;
      set.hidden = !chosen;
      set.disabled = !chosen; // only the chosen type's options are posted
    });
  }
  if (typeSelect) typeSelect.addEventListener("change", showOptions);

  // -- rows of the ports and links editors -----------------------------------------------------------
  function addRow(editor) {
    const template = editor.querySelector("template[data-row-template]");
    const list = editor.querySelector("[data-row-list]");
    const n = String(Number(editor.dataset.nextRow || "0"));
    editor.dataset.nextRow = String(Number(n) + 1);
    const html = template.innerHTML.replace(/__N__/g, n);
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const row = holder.querySelector("[data-row]");
    row.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
    list.appendChild(row);
    const first = row.querySelector("input, select");
    if (first) first.focus();
  }

  form.addEventListener("click", (event) => {
    const add = event.target.closest("[data-add-row]");
    if (add) {
      addRow(add.closest("[data-rows]"));
      return;
    }
    const remove = event.target.closest("[data-remove-row]");
    if (remove) {
      const editor = remove.closest("[data-rows]");
      remove.closest("[data-row]").remove();
      const again = editor.querySelector("[data-add-row]");
      if (again) again.focus();
      schedule();
    }
  });

  // -- problems next to fields and in the summary ----------------------------------------------------
  function setDescribed(control, id, on) {
    const ids = (control.getAttribute("aria-describedby") || "").split(/\s+/).filter((x) => x && x !== id);
    if (on) ids.push(id);
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
    if (on) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  }

  function slots() {
    return Array.from(form.querySelectorAll("[data-error-for]")).filter(
      (slot) => !(slot.parentElement && slot.parentElement.closest("[hidden]")));
  }

  function slotFor(path, all) {
    const parts = (path || "").split(".");
    while (parts.length && parts[0]) {
      const wanted = parts.join(".");
      const found = all.find((slot) => slot.dataset.errorFor === wanted);
      if (found) return found;
      parts.pop();
    }
    return null;
  }

  function controlOf(slot) {
    return document.getElementById(slot.id.replace(/-error$/, ""));
  }

  function clearSlots() {
    form.querySelectorAll("[data-error-for]").forEach((slot) => {
      slot.hidden = true;
      slot.textContent = "";
      slot.classList.remove("field-warning");
      const control = controlOf(slot);
      if (control) setDescribed(control, slot.id, false);
    });
  }

  function show(problems) {
    clearSlots();
    const all = slots();
    const list = summary.querySelector("ul");
    list.textContent = "";
    let errors = 0;
    let warnings = 0;
    problems.forEach((problem) => {
      const isError = problem.severity === "error";
      if (isError) errors += 1; else warnings += 1;
      const slot = mode === "form" ? slotFor(problem.field, all) : null;
      if (slot) {
        slot.textContent = (slot.textContent ? slot.textContent + " " : "") + problem.message;
        slot.hidden = false;
        if (!isError && !slot.dataset.hasError) slot.classList.add("field-warning");
        if (isError) { slot.classList.remove("field-warning"); slot.dataset.hasError = "1"; }
        const control = controlOf(slot);
        if (control) setDescribed(control, slot.id, true);
      }
      const item = document.createElement("li");
      item.className = isError ? "problem-error" : "problem-warning";
      const badge = document.createElement("span");
      badge.className = "badge " + (isError ? "badge-error" : "badge-warning");
      badge.textContent = problem.severity;
      item.appendChild(badge);
      item.appendChild(document.createTextNode(" "));
      const where = problem.field || "";
      const control = slot ? controlOf(slot) : null;
      if (control && where) {
        const link = document.createElement("a");
        link.href = "#" + control.id;
        link.className = "mono";
        link.textContent = where;
        item.appendChild(link);
        item.appendChild(document.createTextNode(" "));
      } else if (where) {
        const span = document.createElement("span");
        span.className = "mono";
        span.textContent = where;
        item.appendChild(span);
        item.appendChild(document.createTextNode(" "));
      }
      if (mode === "yaml" && problem.line) {
        item.appendChild(document.createTextNode("line " + problem.line + ": "));
      }
      item.appendChild(document.createTextNode(problem.message));
      list.appendChild(item);
    });
    form.querySelectorAll("[data-error-for]").forEach((slot) => { delete slot.dataset.hasError; });
    const head = summary.querySelector(".edit-problems-head");
    if (!problems.length) {
      head.textContent = "No problems found: the merge check would accept this " + kind + ".";
    } else {
      const parts = [];
      if (errors) parts.push(errors + (errors === 1 ? " error" : " errors"));
      if (warnings) parts.push(warnings + (warnings === 1 ? " warning" : " warnings"));
      head.textContent = parts.join(" and ") + (errors ? ": fix the errors before saving." :
        ": the merge check would list these, but not refuse the merge.");
    }
    summary.classList.toggle("has-errors", errors > 0);
    summary.classList.toggle("has-warnings", warnings > 0);
    summary.hidden = false;
  }

  // -- checking as a person types ------------------------------------------------------------------
  let timer = null;
  let latest = 0;

  function request() {
    if (mode === "yaml") {
      const text = form.querySelector("#spec-text").value;
      return fetch("/api/v1/catalog/validate/" + encodeURIComponent(kind), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({text: text, original_slug: original || null, new: !original}),
      });
    }
    return fetch("/catalog/edit/" + encodeURIComponent(kind) + "/check", {
      method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf}, body: new FormData(form),
    });
  }

  async function check() {
    const mine = ++latest;
    let answer;
    try {
      const response = await request();
      if (!response.ok) return; // e.g. logged out: saving will say so
      answer = await response.json();
    } catch (err) {
      return; // offline for a moment: the next keystroke tries again
    }
    if (mine === latest) show(answer.problems || []);
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(check, DELAY_MS);
  }

  form.addEventListener("input", (event) => {
    if (event.target.closest("fieldset.edit-target")) return;
    schedule();
  });
  form.addEventListener("change", (event) => {
    if (event.target.closest("fieldset.edit-target")) return;
    schedule();
  });
  showOptions();
})();
