// The page's only script: a view switch and a case filter. It reads the DOM and never data, so nothing
// from a document can reach it; without it every view shows, unfiltered.
(function () {
  "use strict";
  var nav = document.querySelector("[data-views]");
  var sections = Array.prototype.slice.call(document.querySelectorAll("section[data-view]"));
  function show(name) {
    sections.forEach(function (s) { s.hidden = s.getAttribute("data-view") !== name; });
    nav.querySelectorAll("button[data-view]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-view") === name));
    });
  }
  if (nav && sections.length > 1) {
    nav.hidden = false;
    nav.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-view]");
      if (b) { show(b.getAttribute("data-view")); }
    });
    show(sections[0].getAttribute("data-view"));
  }
  document.querySelectorAll("[data-filter-for]").forEach(function (box) {
    var table = document.getElementById(box.getAttribute("data-filter-for"));
    var text = box.querySelector("input[type=search]");
    var failing = box.querySelector("input[type=checkbox]");
    var count = box.querySelector("output");
    var rows = table.tBodies[0].rows;
    function apply() {
      var q = text.value.trim().toLowerCase();
      var n = 0;
      for (var i = 0; i < rows.length; i++) {
        var r = rows[i];
        var keep = (!failing.checked || r.getAttribute("data-failures") !== "0") &&
          (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
        r.hidden = !keep;
        if (keep) { n++; }
      }
      count.textContent = n + " of " + rows.length + " cases shown";
    }
    text.addEventListener("input", apply);
    failing.addEventListener("change", apply);
    box.hidden = false;
    apply();
  });
})();
