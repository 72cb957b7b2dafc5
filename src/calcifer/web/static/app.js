/* Calcifer — small vanilla JS for the web shell. No build step, no dependencies.
 *
 * - theme toggle (#theme-toggle): light -> dark -> system, remembered in localStorage
 * - keyboard shortcuts (never while typing in a field): "/" focuses #global-search; signed in, "?" opens
 *   the #shortcuts-dialog list, "g d/w/s/m" go to the dashboard/work/services/monitoring, "n" new work item
 * - mobile nav toggle (#nav-toggle), dropdowns (<details class="dropdown">) close on outside click / Esc
 * - flash dismiss ([data-dismiss] inside .alert)
 * - character counters: <textarea id="x" data-maxlength-counter="2000"> + <span data-counter-for="x">
 * - data-confirm="message" on a form, button, link or submit input asks confirm() first
 * - <button data-copy="id"> copies the text of #id to the clipboard (a new API token)
 * - htmx request errors are shown as an error flash (opt out with data-no-error-flash on an ancestor)
 * - <input type=checkbox data-select-all="g"> checks or clears every input[data-group="g"]
 * - data-top="40" / data-left="40" (percent) position an element: the CSP forbids style="" attributes
 *
 * Every feature checks that its elements exist: no page may log a console error.
 */
(function () {
  "use strict";

  var THEME_KEY = "calcifer-theme";
  var THEMES = ["light", "dark", "system"];
  var THEME_NAMES = { light: "Light", dark: "Dark", system: "System" };
  var root = document.documentElement;

  /* ------------------------------------------------------------ theme */
  function currentTheme() {
    var t = root.getAttribute("data-theme");
    return t === "light" || t === "dark" ? t : "system";
  }

  function storeTheme(theme) {
    try {
      if (theme === "system") {
        window.localStorage.removeItem(THEME_KEY);
      } else {
        window.localStorage.setItem(THEME_KEY, theme);
      }
    } catch (e) {
      /* storage may be disabled: the choice then lasts for this page only */
    }
  }

  function updateThemeToggle() {
    var btn = document.getElementById("theme-toggle");
    if (!btn) return;
    var theme = currentTheme();
    var next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    var label = "Theme: " + THEME_NAMES[theme] + " (switch to " + THEME_NAMES[next].toLowerCase() + ")";
    btn.setAttribute("aria-label", label);
    btn.setAttribute("title", label);
    btn.setAttribute("data-current-theme", theme);
    var text = btn.querySelector(".theme-label");
    if (text) text.textContent = THEME_NAMES[theme];
  }

  function setTheme(theme, persist) {
    if (THEMES.indexOf(theme) < 0) theme = "system";
    root.setAttribute("data-theme", theme);
    if (persist) storeTheme(theme);
    updateThemeToggle();
  }

  var themeBtn = document.getElementById("theme-toggle");
  if (themeBtn) {
    themeBtn.addEventListener("click", function () {
      var theme = currentTheme();
      setTheme(THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length], true);
    });
  }
  updateThemeToggle();

  /* another tab changed the theme */
  window.addEventListener("storage", function (e) {
    if (e.key !== THEME_KEY) return;
    setTheme(e.newValue === "light" || e.newValue === "dark" ? e.newValue : "system", false);
  });

  /* ------------------------------------------------------- navigation */
  var header = document.querySelector(".site-header");
  var navBtn = document.getElementById("nav-toggle");

  function setNavOpen(open) {
    if (!navBtn || !header) return;
    navBtn.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("nav-open", open);
  }

  if (navBtn) {
    navBtn.addEventListener("click", function () {
      setNavOpen(navBtn.getAttribute("aria-expanded") !== "true");
    });
  }

  function closeDropdowns(except) {
    var open = document.querySelectorAll("details.dropdown[open]");
    for (var i = 0; i < open.length; i++) {
      if (open[i] !== except) open[i].removeAttribute("open");
    }
  }

  document.addEventListener("click", function (e) {
    var target = e.target;
    var inside = target && target.closest ? target.closest("details.dropdown") : null;
    closeDropdowns(inside);
  });

  /* ------------------------------------------------ keyboard shortcuts */
  function isEditable(el) {
    if (!el || el === document.body || el === root) return false;
    var tag = el.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return true;
    return !!el.isContentEditable;
  }

  /* the "?" dialog: a modal <dialog>; Tab and Shift+Tab cycle inside it, Esc closes it and focus goes
   * back to where it was */
  var shortcutsDialog = document.getElementById("shortcuts-dialog");
  var shortcutsReturn = null;

  function shortcutsOpen() {
    return !!(shortcutsDialog && shortcutsDialog.open);
  }

  function openShortcuts() {
    if (!shortcutsDialog || shortcutsDialog.open) return;
    shortcutsReturn = document.activeElement;
    if (typeof shortcutsDialog.showModal === "function") shortcutsDialog.showModal();
    else shortcutsDialog.setAttribute("open", "");
    var close = document.getElementById("shortcuts-close");
    if (close) close.focus();
  }

  function closeShortcuts() {
    if (!shortcutsDialog || !shortcutsDialog.open) return;
    if (typeof shortcutsDialog.close === "function") shortcutsDialog.close();
    else shortcutsDialog.removeAttribute("open");
  }

  if (shortcutsDialog) {
    /* "close" also fires when the browser closes the dialog itself (Esc) */
    shortcutsDialog.addEventListener("close", function () {
      var back = shortcutsReturn;
      shortcutsReturn = null;
      if (back && back.focus && document.contains(back)) back.focus();
    });
    shortcutsDialog.addEventListener("click", function (e) {
      if (e.target === shortcutsDialog) closeShortcuts(); /* a click on the backdrop */
    });
  }
  var shortcutsOpener = document.getElementById("shortcuts-open");
  if (shortcutsOpener) shortcutsOpener.addEventListener("click", openShortcuts);
  var shortcutsCloser = document.getElementById("shortcuts-close");
  if (shortcutsCloser) shortcutsCloser.addEventListener("click", closeShortcuts);

  function trapFocus(e) {
    var focusable = shortcutsDialog.querySelectorAll(
      'a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])');
    if (!focusable.length) return;
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    var active = document.activeElement;
    if (e.shiftKey && (active === first || !shortcutsDialog.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !shortcutsDialog.contains(active))) {
      e.preventDefault();
      first.focus();
    }
  }

  /* "g" then a letter goes to a page; the "g" waits this long for its second key */
  var GO_TO = { d: "/", w: "/work", s: "/services", m: "/monitoring" };
  var GO_WAIT_MS = 1500;
  var goPending = false;
  var goTimer = null;

  function clearGo() {
    goPending = false;
    if (goTimer) window.clearTimeout(goTimer);
    goTimer = null;
  }

  /* only signed-in pages carry the shortcuts dialog: the login page has no shortcuts but "/" */
  var shortcutsEnabled = !!shortcutsDialog;

  document.addEventListener("keydown", function (e) {
    if (shortcutsOpen()) {
      if (e.key === "Tab") trapFocus(e);
      else if (e.key === "Escape") {
        e.preventDefault();
        closeShortcuts();
      }
      return;
    }
    if (e.key === "Escape") {
      clearGo();
      var openDropdown = document.querySelector("details.dropdown[open]");
      if (openDropdown) {
        closeDropdowns(null);
        var summary = openDropdown.querySelector("summary");
        if (summary) summary.focus();
        return;
      }
      if (navBtn && navBtn.getAttribute("aria-expanded") === "true") {
        setNavOpen(false);
        navBtn.focus();
        return;
      }
      if (e.target && e.target.id === "global-search") e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || e.isComposing) return;
    if (isEditable(e.target)) return;

    if (goPending) {
      var target = GO_TO[e.key];
      clearGo();
      if (target && shortcutsEnabled) {
        e.preventDefault();
        window.location.assign(target);
        return;
      }
    }

    if (e.key === "/") {
      var search = document.getElementById("global-search");
      if (!search) return;
      e.preventDefault();
      /* on a phone the search lives in the collapsed menu: open it first */
      if (search.offsetParent === null) setNavOpen(true);
      search.focus();
      if (typeof search.select === "function") search.select();
      return;
    }
    if (!shortcutsEnabled) return;
    if (e.key === "?") {
      e.preventDefault();
      openShortcuts();
    } else if (e.key === "g") {
      goPending = true;
      goTimer = window.setTimeout(clearGo, GO_WAIT_MS);
    } else if (e.key === "n") {
      e.preventDefault();
      window.location.assign("/work/new");
    }
  });

  /* ---------------------------------------------------------- flashes */
  document.addEventListener("click", function (e) {
    var btn = e.target && e.target.closest ? e.target.closest("[data-dismiss]") : null;
    if (!btn) return;
    var box = btn.closest(".alert") || btn.parentElement;
    if (box) box.remove();
  });

  /* show a message in the flash area (text only, never HTML) */
  function showFlash(level, message) {
    var area = document.getElementById("flashes");
    if (!area) return;
    var box = document.createElement("div");
    box.className = "alert alert-" + level;
    box.setAttribute("role", level === "error" ? "alert" : "status");
    var body = document.createElement("div");
    body.className = "alert-body";
    body.textContent = message;
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "alert-dismiss";
    btn.setAttribute("data-dismiss", "");
    btn.setAttribute("aria-label", "Dismiss message");
    btn.textContent = "\u00d7";
    box.appendChild(body);
    box.appendChild(btn);
    area.appendChild(box);
  }

  window.calcifer = window.calcifer || {};
  window.calcifer.flash = showFlash;

  /* ------------------------------------------------- character counters */
  function cssEscape(value) {
    if (window.CSS && typeof window.CSS.escape === "function") return window.CSS.escape(value);
    return String(value).replace(/["\\]/g, "\\$&");
  }

  function updateCounter(textarea) {
    var max = parseInt(textarea.getAttribute("data-maxlength-counter"), 10);
    if (!(max > 0) || !textarea.id) return;
    var out = document.querySelector('[data-counter-for="' + cssEscape(textarea.id) + '"]');
    if (!out) return;
    /* count code points, like Python's len(); the server should normalise \r\n to \n */
    var n = Array.from(textarea.value).length;
    out.textContent = n + " / " + max;
    var over = n > max;
    out.classList.add("counter");
    out.classList.toggle("counter-over", over);
    out.setAttribute("data-over", over ? "true" : "false");
  }

  function initCounters(scope) {
    if (!scope || !scope.querySelectorAll) return;
    var list = scope.querySelectorAll("textarea[data-maxlength-counter]");
    for (var i = 0; i < list.length; i++) updateCounter(list[i]);
    if (scope.matches && scope.matches("textarea[data-maxlength-counter]")) updateCounter(scope);
  }

  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t && t.tagName === "TEXTAREA" && t.hasAttribute("data-maxlength-counter")) updateCounter(t);
  });

  /* form reset empties the textarea after the event: update on the next tick */
  document.addEventListener("reset", function (e) {
    var form = e.target;
    window.setTimeout(function () {
      initCounters(form);
    }, 0);
  });

  initCounters(document);

  /* ----------------------------------------------------- data-confirm */
  var CONFIRM_CLICKABLE =
    "button[data-confirm], a[data-confirm], input[type=submit][data-confirm], input[type=image][data-confirm]";

  document.addEventListener(
    "click",
    function (e) {
      var el = e.target && e.target.closest ? e.target.closest(CONFIRM_CLICKABLE) : null;
      if (!el || el.disabled) return;
      if (!window.confirm(el.getAttribute("data-confirm"))) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    },
    true
  );

  document.addEventListener(
    "submit",
    function (e) {
      var form = e.target;
      if (!form || form.tagName !== "FORM") return;
      var message = form.getAttribute("data-confirm");
      if (!message) return;
      /* the submit button already asked */
      if (e.submitter && e.submitter.hasAttribute("data-confirm")) return;
      if (!window.confirm(message)) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    },
    true
  );

  /* ------------------------------------------------------- data-copy */
  /* <button data-copy="id"> copies the text of #id; the button says whether it worked */
  document.addEventListener("click", function (e) {
    var btn = e.target && e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!btn) return;
    var source = document.getElementById(btn.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var label = btn.getAttribute("data-copy-label") || btn.textContent;
    btn.setAttribute("data-copy-label", label);
    function done(ok) {
      btn.textContent = ok ? "Copied" : "Select and copy by hand";
      window.setTimeout(function () {
        btn.textContent = label;
      }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    /* plain http on a LAN: no clipboard API; select the text so ctrl+c works */
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    done(ok);
  });

  /* ------------------------------------------------------------- htmx */
  function errorMessageFrom(xhr) {
    var status = xhr ? xhr.status : 0;
    var text = "";
    try {
      var type = (xhr && xhr.getResponseHeader("Content-Type")) || "";
      var body = (xhr && xhr.responseText) || "";
      if (type.indexOf("json") >= 0) {
        var data = JSON.parse(body);
        if (data && data.error && data.error.message) text = data.error.message;
        else if (data && typeof data.detail === "string") text = data.detail;
      } else if (type.indexOf("text/html") >= 0 && window.DOMParser) {
        var doc = new DOMParser().parseFromString(body, "text/html");
        var msg = doc.querySelector("[data-error-message]");
        var hint = doc.querySelector("[data-error-hint]");
        if (msg) text = msg.textContent.trim();
        if (hint && hint.textContent.trim()) text += " " + hint.textContent.trim();
      } else if (type.indexOf("text/plain") >= 0) {
        text = body.slice(0, 300);
      }
    } catch (err) {
      text = "";
    }
    if (!text) text = "The server could not complete the request.";
    return (status ? "Error " + status + ": " : "") + text;
  }

  function optedOut(detail) {
    var elt = detail && detail.elt;
    return !!(elt && elt.closest && elt.closest("[data-no-error-flash]"));
  }

  document.addEventListener("htmx:responseError", function (e) {
    if (optedOut(e.detail)) return;
    showFlash("error", errorMessageFrom(e.detail && e.detail.xhr));
  });

  document.addEventListener("htmx:sendError", function (e) {
    if (optedOut(e.detail)) return;
    showFlash("error", "Could not reach the server. Check your connection, then try again.");
  });

  /* ------------------------------------------------------- select all */
  document.addEventListener("change", function (e) {
    var all = e.target;
    if (!all || !all.matches || !all.matches("input[data-select-all]")) return;
    var boxes = document.querySelectorAll('input[data-group="' + cssEscape(all.getAttribute("data-select-all")) + '"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
  });

  /* ------------------------------------------------------- positions */
  function percent(value) {
    var n = parseFloat(value);
    return isFinite(n) ? Math.min(100, Math.max(0, n)) + "%" : "";
  }

  function initPositions(scope) {
    if (!scope || !scope.querySelectorAll) return;
    var list = scope.querySelectorAll("[data-top], [data-left]");
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if (el.hasAttribute("data-top")) el.style.top = percent(el.getAttribute("data-top"));
      if (el.hasAttribute("data-left")) el.style.left = percent(el.getAttribute("data-left"));
    }
  }

  initPositions(document);

  /* new content swapped in by htmx: set up its counters and positions */
  document.addEventListener("htmx:load", function (e) {
    initCounters(e.target);
    initPositions(e.target);
  });
})();
