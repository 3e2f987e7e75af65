// Progressive enhancement only: every page works without JavaScript.
(function () {
  "use strict";
  // Close the side menu by default on small screens (it is open for no-JS and large screens).
  if (window.matchMedia("(max-width: 48rem)").matches) {
    document.querySelectorAll("details.menu-toggle").forEach(function (d) { d.removeAttribute("open"); });
  }
  // Buttons asking for a confirmation: data-confirm="Texte de la question".
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
  });
  // Drop zones: <div class="dropzone" data-input="id-of-file-input">.
  document.querySelectorAll(".dropzone[data-input]").forEach(function (zone) {
    var input = document.getElementById(zone.getAttribute("data-input"));
    if (!input) { return; }
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (ev) {
      ev.preventDefault();
      if (ev.dataTransfer && ev.dataTransfer.files.length) {
        input.files = ev.dataTransfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });
})();
