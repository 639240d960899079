// Strathon dashboard: progressive enhancement only. Every page and form
// works without this file; it adds live refresh and small conveniences.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function busy(main) {
    // Never swap the page under someone who is typing or choosing.
    var a = document.activeElement;
    return a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName);
  }

  function enhance(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.requestSubmit ? s.form.requestSubmit() : s.form.submit(); });
    });
    root.querySelectorAll("[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var target = document.getElementById(b.getAttribute("data-copy"));
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = "Copy"; }, 2000);
        });
      });
    });
    root.querySelectorAll("[data-expires]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-expires"));
      if (isNaN(until)) return;
      var tick = function () {
        var s = Math.round((until - Date.now()) / 1000);
        el.textContent = s <= 0 ? "expired" : (s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s") + " left";
        if (s > 0 && document.contains(el)) setTimeout(tick, 1000);
      };
      tick();
    });
    var toggle = root.querySelector("#critical-toggle");
    if (toggle) {
      toggle.addEventListener("click", function (e) {
        var table = document.querySelector("table.waterfall");
        if (!table) return;
        e.preventDefault();
        var on = table.classList.toggle("show-critical");
        toggle.textContent = on ? "Hide the longest chain" : "Highlight the longest chain";
        var url = new URL(location.href);
        if (on) url.searchParams.set("critical", "1"); else url.searchParams.delete("critical");
        history.replaceState(null, "", url);
      });
    }
  }

  function live(main) {
    var seconds = parseInt(main.getAttribute("data-live"), 10) || 5;
    var refresh = function () {
      if (document.visibilityState !== "visible" || busy(main)) return schedule();
      fetch(location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
        .then(function (r) {
          if (r.redirected) { location.reload(); return null; }
          return r.text().then(function (t) { return { ok: r.ok, text: t }; });
        })
        .then(function (res) {
          if (!res) return;
          var doc = new DOMParser().parseFromString(res.text, "text/html");
          var fresh = doc.getElementById("main");
          if (res.ok && !document.querySelector("main[data-reload-on-recovery]") && fresh && !busy(main)) {
            main.innerHTML = fresh.innerHTML;
            enhance(main);
          } else if (res.ok) {
            location.reload();
          }
        })
        .catch(function () { /* the next tick tries again */ })
        .then(schedule);
    };
    var schedule = function () { setTimeout(refresh, seconds * 1000); };
    if (document.title.indexOf("Receiver unavailable") === 0) main.setAttribute("data-reload-on-recovery", "");
    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var main = document.querySelector("main[data-live]");
    if (main) live(main);
  });
})();
