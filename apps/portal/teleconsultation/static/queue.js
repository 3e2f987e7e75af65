// The doctors' queue: the time left counts down; the list reloads when questions come or go.
(function () {
  "use strict";
  var list = document.getElementById("file");
  if (!list) { return; }
  var shown = Array.prototype.map.call(document.querySelectorAll("tr.question"), function (r) { return r.getAttribute("data-task"); }).join(",");
  setInterval(function () {
    document.querySelectorAll("td.reste").forEach(function (cell) {
      var left = Math.max(0, parseInt(cell.getAttribute("data-left"), 10) - 1);
      cell.setAttribute("data-left", left);
      cell.textContent = Math.floor(left / 60) + " min " + ("0" + (left % 60)).slice(-2) + " s";
    });
  }, 1000);
  var leaving = false;  // a question is being taken: no reload may cancel that navigation
  document.querySelectorAll("#file form").forEach(function (f) {
    f.addEventListener("submit", function () { leaving = true; });
  });
  setInterval(function () {
    if (leaving) { return; }
    fetch(list.getAttribute("data-etat"), { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        var now = s.questions.map(function (q) { return q.id; }).join(",");
        if (now !== shown && !leaving) { window.location.reload(); }
      }).catch(function () { /* next time */ });
  }, 3000);
})();
