// The WebSocket of the portal's real-time screens (teleconsultation chat, video room): opened on
// this portal's own address (the server checks the Origin), JSON messages both ways.
(function () {
  "use strict";
  var P = window.Passerelle = window.Passerelle || {};
  // openSocket(path, onMessage): ws:// or wss:// as the page; onMessage(object) for each message.
  P.openSocket = function (path, onMessage) {
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    socket.onmessage = function (ev) { onMessage(JSON.parse(ev.data)); };
    return socket;
  };
  // sendJson(socket, message): sent when the socket is open; says whether it was.
  P.sendJson = function (socket, message) {
    if (!socket || socket.readyState !== 1) { return false; }
    socket.send(JSON.stringify(message));
    return true;
  };
})();
