// Refreshes the page's main element every data-refresh seconds by fetching
// the same URL with X-Offbox-Partial, without a reload. No inline script:
// the page's Content-Security-Policy forbids it.
(function () {
  "use strict";
  var secs = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!secs) {
    return;
  }
  function refresh() {
    if (document.hidden) {
      return;
    }
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "SELECT" || active.tagName === "TEXTAREA")) {
      return; // do not throw away what is being typed
    }
    if (document.querySelector("#main input[type=checkbox]:checked")) {
      return; // nor a selection of alerts
    }
    var typed = Array.prototype.some.call(document.querySelectorAll("form.triage textarea, form.triage input[name=comment]"),
      function (e) { return e.value !== ""; });
    if (typed) {
      return; // nor a comment written and not yet posted
    }
    fetch(window.location.href, { headers: { "X-Offbox-Partial": "1" }, credentials: "same-origin" })
      .then(function (resp) {
        if (resp.status === 401) {
          window.location.reload(); // shows the login page
          return null;
        }
        return resp.ok ? resp.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        document.getElementById("main").innerHTML = html;
        var u = document.getElementById("updated");
        if (u) {
          u.textContent = "Refreshes every " + secs + " s; updated " + new Date().toISOString().slice(0, 19).replace("T", " ") + "Z";
        }
      })
      .catch(function () {});
  }
  window.setInterval(refresh, secs * 1000);
  // The alert list's "select all" box ticks every alert shown.
  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "select-all") {
      document.querySelectorAll("#alerts input[name=id]").forEach(function (b) { b.checked = e.target.checked; });
    }
  });
})();
