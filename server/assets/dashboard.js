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
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
    root.querySelectorAll("select[data-action-select]").forEach(function (sel) {
      // Only the settings of the chosen action stay in view (all show without script).
      var show = function () {
        sel.form.querySelectorAll(".action-config").forEach(function (fs) {
          var on = fs.getAttribute("data-for").split(" ").indexOf(sel.value) >= 0;
          fs.hidden = !on;
        });
      };
      sel.addEventListener("change", show);
      show();
    });
    root.querySelectorAll("textarea[data-cel-check]").forEach(celCheck);
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

  // Checks a CEL expression through the API while it is typed, and points
  // at the error: line, column and a caret under the failing character.
  function celCheck(area) {
    var status = document.getElementById("cel-status");
    var csrf = area.form.querySelector("input[name=csrf]");
    var timer = null;
    var run = function () {
      var body = new URLSearchParams();
      body.set("csrf", csrf ? csrf.value : "");
      body.set("match_expression", area.value);
      fetch(area.getAttribute("data-cel-check"), { method: "POST", credentials: "same-origin", body: body })
        .then(function (r) { return r.json(); })
        .then(function (v) {
          status.textContent = "";
          status.className = "cel-status";
          if (v.valid === true) {
            status.textContent = "The expression compiles.";
            status.classList.add("ok");
            area.removeAttribute("aria-invalid");
            return;
          }
          var e = v.error || {};
          status.classList.add("bad");
          area.setAttribute("aria-invalid", "true");
          if (e.line && e.column) {
            var line = area.value.split("\n")[e.line - 1] || "";
            var pre = document.createElement("pre");
            pre.className = "cel-marker";
            pre.textContent = line + "\n" + " ".repeat(Math.max(e.column - 1, 0)) + "^ line " + e.line + ", column " + e.column;
            status.appendChild(document.createTextNode(e.message || "invalid expression"));
            status.appendChild(pre);
          } else {
            status.textContent = e.message || "invalid expression";
          }
        })
        .catch(function () { /* the server checks again on save */ });
    };
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 350);
    });
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
