// Video teleconsultation: media check, then WebRTC with signalling over the room's WebSocket.
(function () {
  "use strict";
  var room = document.getElementById("salle");
  if (!room) { return; }
  var verif = document.getElementById("verif");
  var etat = document.getElementById("etat");
  var enter = document.getElementById("entrer");
  var leave = document.getElementById("quitter");
  var presents = document.getElementById("presents");
  var local = document.getElementById("local");
  var remote = document.getElementById("distant");
  var ice = [];
  try { ice = JSON.parse(room.getAttribute("data-ice") || "[]"); } catch (e) { ice = []; }
  var stream = null, socket = null, peers = {}, names = {};

  function setState(state, text) { room.setAttribute("data-state", state); etat.textContent = text; }
  function listPeople() {
    presents.textContent = "";
    Object.keys(names).forEach(function (id) {
      var li = document.createElement("li"); li.textContent = names[id]; presents.appendChild(li);
    });
  }

  var audioOnly = room.getAttribute("data-audio") === "1";  // an audio call: the microphone only
  navigator.mediaDevices.getUserMedia({ video: !audioOnly, audio: true }).then(function (s) {
    stream = s; local.srcObject = s;
    verif.textContent = audioOnly ? "Le micro fonctionne." : "Caméra et micro fonctionnent.";
    room.setAttribute("data-state", "pret");
    enter.disabled = false;
  }).catch(function (err) {
    verif.textContent = "Caméra ou micro indisponible (" + err.name + ") : autorisez-les dans le navigateur.";
    room.setAttribute("data-state", "sans-media");
  });

  function send(msg) { Passerelle.sendJson(socket, msg); }

  function peer(id) {
    if (peers[id]) { return peers[id]; }
    var pc = new RTCPeerConnection({ iceServers: ice });
    stream.getTracks().forEach(function (t) { pc.addTrack(t, stream); });
    pc.onicecandidate = function (ev) { if (ev.candidate) { send({ type: "candidate", to: id, candidate: ev.candidate }); } };
    pc.ontrack = function (ev) { remote.srcObject = ev.streams[0]; };
    pc.onconnectionstatechange = function () {
      if (pc.connectionState === "connected") { setState("connecte", "Connecté avec " + (names[id] || "l'autre participant") + "."); }
      else if (pc.connectionState === "failed") { setState("echec", "La connexion a échoué : vérifiez votre réseau."); }
      else if (pc.connectionState === "disconnected") { setState("attente", "Connexion interrompue…"); }
    };
    peers[id] = pc;
    return pc;
  }

  function closePeer(id) {
    if (peers[id]) { peers[id].close(); delete peers[id]; }
    delete names[id]; listPeople();
  }

  function outside() { leave.hidden = true; enter.hidden = false; enter.disabled = false; }

  enter.addEventListener("click", function () {
    enter.disabled = true;
    socket = Passerelle.openSocket(room.getAttribute("data-ws"), function (msg) {
      if (msg.type === "peers") {
        msg.peers.forEach(function (p) {
          names[p.id] = p.name;
          var pc = peer(p.id);
          pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
            .then(function () { send({ type: "offer", to: p.id, sdp: pc.localDescription }); });
        });
        listPeople();
      } else if (msg.type === "joined") {
        names[msg.id] = msg.name; listPeople();
        document.getElementById("distant-nom").textContent = msg.name;
      } else if (msg.type === "offer") {
        var pc = peer(msg.from);
        pc.setRemoteDescription(msg.sdp).then(function () { return pc.createAnswer(); })
          .then(function (a) { return pc.setLocalDescription(a); })
          .then(function () { send({ type: "answer", to: msg.from, sdp: pc.localDescription }); });
      } else if (msg.type === "answer") {
        if (peers[msg.from]) { peers[msg.from].setRemoteDescription(msg.sdp); }
      } else if (msg.type === "candidate") {
        if (peers[msg.from]) { peers[msg.from].addIceCandidate(msg.candidate).catch(function () {}); }
      } else if (msg.type === "left" || msg.type === "bye") {
        closePeer(msg.id || msg.from);
        setState("attente", "L'autre participant a quitté la salle.");
      } else if (msg.type === "full") {
        setState("complet", "La salle est complète.");
      }
    });
    setState("attente", "Dans la salle : en attente de l'autre participant…");
    enter.hidden = true; leave.hidden = false;
    var mine = socket;
    socket.onclose = function (ev) {
      var state = room.getAttribute("data-state");
      if (socket !== mine || (state === "connecte" && ev.code < 4400)) { return; }  // replaced, or the call goes on
      outside();
      if (ev.code === 4401) { setState("ferme", "Session expirée : reconnectez-vous."); }
      else if (ev.code === 4404 || ev.code === 4403) { setState("ferme", "Accès à cette salle refusé."); }
      else if (state !== "complet") { setState("ferme", "Vous avez quitté la salle."); }
    };
  });

  leave.addEventListener("click", function () {
    Object.keys(peers).forEach(function (id) { send({ type: "bye", to: id }); closePeer(id); });
    if (socket) { socket.close(); }
    outside();
    setState("pret", "Vous avez quitté la salle.");
  });
})();
