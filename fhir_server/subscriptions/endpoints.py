"""Where a rest-hook may POST: https (http only to a loopback address), and never into the
server's own network unless the operator listed the host (no server-side request forgery).

The host is resolved (asynchronously) before every delivery and every address it resolves
to is checked, so a name cannot be pointed at an internal address after the subscription
was accepted; redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class EndpointRefused(ValueError):
    """The endpoint may not be called; the message (French) says why."""


def _listed(host: str, allowed: tuple[str, ...]) -> bool:
    for pattern in allowed:
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


async def check_endpoint(url: str, allowed: tuple[str, ...]) -> None:
    """Raise :class:`EndpointRefused` unless ``url`` may receive notifications."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(f"adresse de notification invalide : {url!r}") from exc
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise EndpointRefused(f"adresse de notification invalide (https attendu) : {url!r}")
    if parts.username or parts.password:
        raise EndpointRefused("l'adresse de notification ne doit pas contenir d'identifiants")
    if allowed and not _listed(host, allowed):
        raise EndpointRefused(
            f"hôte {host} absent de la liste autorisée (PASSERELLE_SUBSCRIPTION_ALLOWED_HOSTS)"
        )
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise EndpointRefused(f"hôte {host} introuvable : {exc}") from exc
    addresses = {info[4][0] for info in infos}
    loopback = all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
    if parts.scheme == "http" and not loopback:
        raise EndpointRefused(
            "https obligatoire (http n'est admis que vers l'adresse de bouclage, pour les essais)"
        )
    if any(_internal(a) for a in addresses) and not _listed(host, allowed):
        raise EndpointRefused(
            f"{host} désigne une adresse interne ({', '.join(sorted(addresses))}) non autorisée"
        )
