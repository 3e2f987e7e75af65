// The consultation's chat: messages over the WebSocket, files through the paperclip (upload, then relayed).
(function () {
  "use strict";
  var box = document.getElementById("chat");
  if (!box) { return; }
  var fil = document.getElementById("fil");
  var state = document.getElementById("chat-etat");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-texte");
  var file = document.getElementById("chat-fichier");
  var error = document.getElementById("chat-erreur");
  var me = box.getAttribute("data-moi");
  var base = box.getAttribute("data-piece");
  var socket = null;

  function add(m) {
    if (fil.querySelector('[data-id="' + m.id + '"]')) { return; }
    var li = document.createElement("li");
    li.className = "message" + (m.from === me ? " moi" : "");
    li.setAttribute("data-id", m.id);
    var who = document.createElement("span"); who.className = "auteur"; who.textContent = m.name; li.appendChild(who);
    li.appendChild(document.createTextNode(" "));
    var at = document.createElement("time"); at.textContent = (m.at || "").slice(11, 16); li.appendChild(at);
    li.appendChild(document.createTextNode(" "));
    if (m.file) {
      var piece = document.createElement("span"); piece.className = "piece-jointe";
      piece.appendChild(document.createTextNode("Pièce jointe : "));
      var a = document.createElement("a"); a.className = "piece"; a.href = base + "/" + m.id; a.setAttribute("download", "");
      a.textContent = m.file.title; piece.appendChild(a); li.appendChild(piece);
      if (m.file.type.indexOf("image/") === 0) {
        var img = document.createElement("img"); img.className = "apercu"; img.alt = "Aperçu de " + m.file.title;
        img.src = base + "/" + m.id + "?apercu=1"; li.appendChild(img);
      }
    } else {
      var t = document.createElement("span"); t.className = "texte"; t.textContent = m.text; li.appendChild(t);
    }
    fil.appendChild(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function connect() {
    socket = Passerelle.openSocket(box.getAttribute("data-ws"), function (m) {
      if (m.type === "message") { add(m); } else if (m.type === "erreur") { error.textContent = m.text; }
    });
    socket.onopen = function () { state.textContent = "Connecté."; box.setAttribute("data-connecte", "1"); };
    socket.onclose = function () {
      box.removeAttribute("data-connecte");
      state.textContent = "Connexion perdue : nouvelle tentative…";
      setTimeout(connect, 2000);
    };
  }
  connect();

  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      error.textContent = "";
      var text = input.value.trim();
      if (text && Passerelle.sendJson(socket, { text: text })) { input.value = ""; }
    });
    file.addEventListener("change", function () {
      if (!file.files.length) { return; }
      var data = new FormData();
      data.append("pieces", file.files[0]);
      error.textContent = "Envoi du fichier…";
      fetch(base, { method: "POST", body: data, credentials: "same-origin",
                    headers: { "X-CSRF-Token": box.getAttribute("data-csrf") } })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          error.textContent = res.ok ? "" : res.body.erreur;
          if (res.ok) { res.body.envoyes.forEach(add); }
          file.value = "";
        }).catch(function () { error.textContent = "Le fichier n'a pas pu être envoyé : réessayez."; });
    });
  }
})();
