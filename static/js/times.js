// Times for people: <time datetime="…Z" title="… UTC" data-relative>3 min ago</time>, written by
// the `when` template filter (portal/templatetags/times.py). The server's text is the fallback;
// here it is kept fresh, and the hover text gains the time in the browser's own time zone.
// No inline script (strict CSP): loaded from base.html.
(function () {
  "use strict";

  var MINUTE = 60, HOUR = 3600, DAY = 86400;

  function plural(n, unit) { return n + " " + unit + (n === 1 ? "" : "s"); }

  // The same steps as relative() in times.py, so the text doesn't jump when this takes over.
  function relative(then, now) {
    var seconds = (then - now) / 1000, span = Math.abs(seconds), text;
    if (span < 45) return "just now";
    if (span < 90 * MINUTE) text = Math.max(1, Math.round(span / MINUTE)) + " min";
    else if (span < 36 * HOUR) text = plural(Math.round(span / HOUR), "hour");
    else if (span < 45 * DAY) text = plural(Math.round(span / DAY), "day");
    else return "on " + new Date(then).toISOString().slice(0, 10);
    return seconds > 0 ? "in " + text : text + " ago";
  }

  var local = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "medium"});
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

  function refresh(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-relative]").forEach(function (el) {
      var then = Date.parse(el.getAttribute("datetime"));
      if (isNaN(then)) return;
      if (!el.dataset.utc) el.dataset.utc = el.getAttribute("title") || "";
      var text = relative(then, now);
      if (el.textContent !== text) el.textContent = text;
      el.title = local.format(new Date(then)) + " (" + zone + ") · " + el.dataset.utc;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { refresh(); });
  document.addEventListener("htmx:afterSettle", function (event) { refresh(event.target); });
  setInterval(refresh, 30000);
})();
