"""The R4 websocket channel: ``[base]/websocket``; the client sends ``bind [id]``, the server
answers ``bound [id]`` and then sends ``ping [id]`` for each notification.

With authorization on, the upgrade request must carry the bearer token of the client that
created the subscription (``Authorization`` header); another client is told the subscription
is unknown, as for one that does not exist.
"""

from __future__ import annotations

from starlette.websockets import WebSocket, WebSocketDisconnect

from fhir_server.errors import FhirError


async def websocket_endpoint(websocket: WebSocket) -> None:
    app = websocket.app
    manager = getattr(app.state, "subscriptions", None)
    client_id = ""
    if not app.state.settings.no_auth:
        from starlette.requests import Request

        from fhir_server.auth.guard import _settings, fhir_base, issuer_of, verify_bearer

        # the token's audience is the FHIR base URL (http[s]), as seen by an HTTP request here
        scheme = {"ws": "http", "wss": "https"}.get(websocket.scope.get("scheme", "ws"), "http")
        as_http = Request({**websocket.scope, "type": "http", "scheme": scheme, "method": "GET"})
        try:
            policy = await verify_bearer(
                websocket.headers.get("authorization"),
                issuer_of(as_http),
                fhir_base(as_http),
                _settings(as_http).keys_file,
                app.state.repository.db,
            )
        except FhirError:
            await websocket.close(code=1008)  # policy violation: no valid token
            return
        client_id = str(policy.client_id or policy.subject)
    await websocket.accept()
    if manager is None:
        await websocket.close(code=1013)
        return
    try:
        while True:
            message = (await websocket.receive_text()).strip()
            verb, _, id_ = message.partition(" ")
            id_ = id_.strip()
            if verb != "bind" or not id_:
                await websocket.send_text("error message attendu : bind [id]")
                continue
            active = manager.active.get(id_)
            owner = await manager.repository.db["subscription_owners"].find_one({"_id": id_})
            owner_client = str(((owner or {}).get("claims") or {}).get("client_id") or "")
            if active is None or active.channel != "websocket" or (client_id and owner_client != client_id):
                await websocket.send_text(f"error {id_} abonnement websocket actif inconnu")
                continue
            manager.hub.bind(id_, websocket)
            await websocket.send_text(f"bound {id_}")
    except WebSocketDisconnect:
        pass
    finally:
        manager.hub.unbind(websocket)
