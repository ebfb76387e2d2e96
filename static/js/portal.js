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
      if (!copy.dataset.label) copy.dataset.label = copy.textContent;
      var reset = function () {
        // "Copied" goes back to the button's own label after a few seconds.
        clearTimeout(copy._resetTimer);
        copy._resetTimer = setTimeout(function () { copy.textContent = copy.dataset.label; }, 3000);
      };
      copyText(input.value).then(function () {
        copy.textContent = "Copied";
        copy.setAttribute("aria-live", "polite");
        reset();
      }, function () {
        input.select();
        copy.textContent = "Press Ctrl+C to copy";
        reset();
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
  // A mint form's one-time nonce (portal/once.py) is spent by a successful post; a form that
  // stays on the page after an in-place mint gets a fresh one, so it can mint again.
  function renewNonce(input) {
    var bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    input.value = btoa(String.fromCharCode.apply(null, bytes)).replace(/[+/=]/g, function (c) {
      return { "+": "-", "/": "_", "=": "" }[c];
    });
  }
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form");
    if (!form || !event.detail.successful) return;
    form.querySelectorAll('input[name="nonce"]').forEach(renewNonce);
  });

  // Focus after an in-place update: a new key's panel takes focus and is announced (the next Tab
  // reaches Copy); otherwise, when the swap removed the focused element, the updated region
  // takes it, so keyboard users are not dropped to <body>. #announce is a live region that is
  // always on the page, so screen readers hear the change.
  function announce(text) {
    var region = document.getElementById("announce");
    if (!region || !text) return;
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 50);
  }
  function focusRegion(el) {
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: false });
  }
  function focusFreshPanel() {
    var panel = document.querySelector(".secret-panel:not([data-focused])");
    if (!panel) return false;
    panel.setAttribute("data-focused", "");
    focusRegion(panel);
    var title = panel.querySelector("h2");
    announce((title ? title.textContent + ". " : "") + "Copy this key now: it is shown only once.");
    return true;
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    // (#flash is a live region itself: its messages are heard without help.)
    if (focusFreshPanel()) return;
    var active = document.activeElement;
    var target = event.detail.target;
    // An outerHTML swap replaced the target: its successor has the same id.
    if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
    if ((!active || active === document.body) && target && target.isConnected) {
      focusRegion(target);
    }
  });
  document.addEventListener("DOMContentLoaded", focusFreshPanel);

  // A page that shows a new key answers a form post and cannot redirect (the key lives only in
  // its body); it names the page to reload instead, and the address bar moves there.
  document.addEventListener("DOMContentLoaded", function () {
    var url = document.body.dataset.replaceUrl;
    if (url) history.replaceState(null, "", url);
  });

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
      // Whole seconds, rounded down as the server writes them: a one-minute grant never
      // reads "1m 0s" once it has started, and the last second reads "0s left".
      var ms = end - now, left = Math.max(0, Math.floor(ms / 1000));
      // Days and hours when a day or more is left, as portal/templatetags/times.py writes it.
      var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
      var m = Math.floor((left % 3600) / 60), s = left % 60;
      var text = ms <= 0 ? "expired" : d ? d + "d " + h + "h left" :
        (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s left";
      if (el.textContent !== text) el.textContent = text;
      el.classList.toggle("expired", ms <= 0);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
})();
