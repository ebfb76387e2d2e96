// Tessera portal behaviour. No inline scripts (strict CSP): everything is delegated from here.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy-target]");
    if (copy) {
      var input = document.getElementById(copy.dataset.copyTarget);
      if (!input) return;
      copyText(input.value).then(function () {
        copy.textContent = "Copied";
        copy.setAttribute("aria-live", "polite");
      }, function () {
        input.select();
        copy.textContent = "Press Ctrl+C to copy";
      });
      return;
    }
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      var panel = dismiss.closest(dismiss.dataset.dismiss || ".secret-panel");
      if (panel) {
        panel.querySelectorAll("input").forEach(function (i) { i.value = ""; });
        panel.remove();
      }
      event.preventDefault();
    }
  });

  // While a one-time secret is on the page, htmx must not snapshot the page into its history
  // cache (sessionStorage): mark every panel hx-history="false", even one a template forgot.
  function guardSecrets() {
    document.querySelectorAll(".secret-panel:not([hx-history])").forEach(function (panel) {
      panel.setAttribute("hx-history", "false");
    });
  }
  document.addEventListener("DOMContentLoaded", guardSecrets);
  document.addEventListener("htmx:afterSwap", guardSecrets);

  // A one-time key leaves with the page: the back/forward cache must not bring it back.
  window.addEventListener("pagehide", function () {
    document.querySelectorAll(".secret-panel").forEach(function (panel) {
      panel.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      panel.remove();
    });
  });

  // Live countdowns: <time data-countdown datetime="2026-01-01T00:00:00Z">.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("datetime"));
      if (isNaN(end)) return;
      var left = Math.max(0, Math.round((end - now) / 1000));
      // Days and hours when a day or more is left, as portal/templatetags/times.py writes it.
      var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
      var m = Math.floor((left % 3600) / 60), s = left % 60;
      var text = left === 0 ? "expired" : d ? d + "d " + h + "h left" :
        (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s left";
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("expired", left === 0);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
})();
