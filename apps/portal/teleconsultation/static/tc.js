// Teleconsultation, patient side: the live symptom counter, pregnancy only for women, the waiting screen.
(function () {
  "use strict";
  var text = document.getElementById("symptomes");
  var counter = document.getElementById("compteur");
  if (text && counter) {
    var min = parseInt(text.getAttribute("data-min") || "100", 10);
    var show = function () {
      var n = text.value.length;
      counter.textContent = n + " caractère" + (n > 1 ? "s" : "") + (n < min ? " — encore " + (min - n) + " au minimum" : " — c'est suffisant");
      counter.className = n < min ? "hint compteur-court" : "hint compteur-ok";
    };
    text.addEventListener("input", show);
    show();
  }
  var who = document.getElementById("pour");
  var pregnancy = document.getElementById("bloc-grossesse");
  if (who && pregnancy) {
    var toggle = function () {
      var option = who.options[who.selectedIndex];
      pregnancy.hidden = !option || option.getAttribute("data-genre") !== "female";
    };
    who.addEventListener("change", toggle);
    toggle();
  }
  var waiting = document.getElementById("attente");
  if (waiting) {
    var left = parseInt(waiting.getAttribute("data-left") || "0", 10);
    var rest = document.getElementById("reste");
    var online = document.getElementById("en-ligne");
    var tick = function () {
      left = Math.max(0, left - 1);
      rest.textContent = Math.floor(left / 60) + " min " + ("0" + (left % 60)).slice(-2) + " s";
    };
    setInterval(tick, 1000);
    var poll = function () {
      fetch(waiting.getAttribute("data-etat"), { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (s) {
        if (!s) { return; }
        online.textContent = s.online;
        left = s.left;
        if (s.status !== "requested") { window.location.assign(waiting.getAttribute("data-suite")); }
      }).catch(function () { /* retried at the next poll */ });
    };
    setInterval(poll, 2000);
  }
})();
