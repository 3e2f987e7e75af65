// Client-side checks of the cross-border forms (the server checks the same things again).
document.addEventListener("DOMContentLoaded", () => {
  const country = document.getElementById("pays");
  if (country && country.form && country.form.id === "choix-pays") {
    country.addEventListener("change", () => { if (country.value) country.form.submit(); });
  }
  const id = document.querySelector("#traits #identifiant[data-format]");
  if (id) {
    let re = null;
    try { re = new RegExp(id.dataset.format); } catch (e) { re = null; }
    const check = () => {
      const v = id.value.trim();
      if (!v) id.setCustomValidity("Indiquez l'identifiant du patient.");
      else if (re && !re.test(v)) id.setCustomValidity("L'identifiant « " + v + " » n'a pas le format attendu pour ce pays.");
      else id.setCustomValidity("");
    };
    id.addEventListener("input", check);
    check();
  }
  document.querySelectorAll("#traits [required]").forEach((el) => {
    if (el.id === "identifiant") return;
    const check = () => el.setCustomValidity(el.value ? "" : "Ce champ est obligatoire pour ce pays.");
    el.addEventListener("input", check); el.addEventListener("change", check); check();
  });
  const button = document.getElementById("consulter");
  if (button) {
    const boxes = button.dataset.needs.split(" ").map((n) => document.getElementById(n));
    const update = () => { button.disabled = !boxes.every((b) => b && b.checked); };
    boxes.forEach((b) => b.addEventListener("change", update));
    update();
  }
});
