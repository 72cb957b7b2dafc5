/* Calcifer: apply the remembered theme before the page paints (loaded without defer in <head>, so a dark
 * theme never flashes light). The toggle itself lives in app.js. */
(function (d) {
  "use strict";
  var t;
  try { t = window.localStorage.getItem("calcifer-theme"); } catch (e) { /* storage disabled */ }
  d.setAttribute("data-theme", t === "light" || t === "dark" ? t : "system");
  d.classList.add("js");
})(document.documentElement);
