"""``near`` on Location: ``near=latitude|longitude[|distance[|units]]`` (WGS84, R4 Location-near).

A Location matches when its ``position`` lies within ``distance`` of the point, along the
great circle (a sphere of the Earth's mean radius, 6371.0088 km: within 0.5 % of the
ellipsoid, the "differing accuracies" R4 allows). Units are UCUM lengths: ``km`` (the
default, as R4 says), ``m``, ``[mi_i]`` (``mi`` accepted). Without a distance the server
chooses: :data:`DEFAULT_KM`.

Write time stores, per position, the latitude and longitude (indexed) and the unit vector
``x y z`` of the point. Read time asks for a latitude band (and a longitude band when it does
not wrap around), an index range scan, and decides exactly with the dot product of unit
vectors: two points are within angle θ when ``p·q >= cos θ``.
"""

from __future__ import annotations

import math
from typing import Any

from fhir_server.errors import FhirError

EARTH_KM = 6371.0088
DEFAULT_KM = 10.0
UNITS_KM = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344}


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def position_values(type_: str, resource: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """The stored ``near`` values of a Location (nothing for other types or without a position)."""
    if type_ != "Location":
        return {}
    position = resource.get("position")
    if not isinstance(position, dict):
        return {}
    lat, lon = position.get("latitude"), position.get("longitude")
    if (
        isinstance(lat, bool)
        or isinstance(lon, bool)
        or not isinstance(lat, int | float)
        or not isinstance(lon, int | float)
    ):
        return {}
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return {}
    x, y, z = unit_vector(float(lat), float(lon))
    return {"near": [{"lat": float(lat), "lon": float(lon), "x": x, "y": y, "z": z}]}


def _number(name: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FhirError(400, "invalid", f"{name} : {what} {text!r} invalide.", expression=[name])
    return value


def near_condition(name: str, modifier: str | None, value: str) -> list[dict[str, Any]]:
    """The conditions (ANDed) of one ``near`` value, a single point: R4 gives no OR for it.

    Two, so that the band, an indexed range, stays a top-level clause of the filter."""
    if modifier is not None:
        raise FhirError(
            400, "not-supported", f"Modificateur :{modifier} non pris en charge sur near.", expression=[name]
        )
    parts = value.split("|")
    if len(parts) < 2 or len(parts) > 4 or not parts[0] or not parts[1]:
        raise FhirError(
            400, "invalid", f"{name} : attendu latitude|longitude[|distance[|unités]], reçu {value!r}.",
            expression=[name],
        )  # fmt: skip
    lat = _number(name, parts[0], "latitude")
    lon = _number(name, parts[1], "longitude")
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        message = f"{name} : latitude entre -90 et 90, longitude entre -180 et 180."
        raise FhirError(400, "invalid", message, expression=[name])
    distance_km = DEFAULT_KM
    if len(parts) >= 3 and parts[2]:
        distance = _number(name, parts[2], "distance")
        if distance < 0:
            raise FhirError(400, "invalid", f"{name} : distance négative.", expression=[name])
        unit = parts[3] if len(parts) == 4 and parts[3] else "km"
        if unit not in UNITS_KM:
            message = f"{name} : unité {unit!r} non prise en charge (km, m, [mi_i])."
            raise FhirError(400, "invalid", message, expression=[name])
        distance_km = distance * UNITS_KM[unit]
    angle = min(distance_km / EARTH_KM, math.pi)
    dlat = math.degrees(angle)
    box: dict[str, Any] = {"lat": {"$gte": max(-90.0, lat - dlat), "$lte": min(90.0, lat + dlat)}}
    # the longitude band, when the circle reaches no pole and does not cross the antimeridian
    if abs(lat) + dlat < 90:
        dlon = math.degrees(math.asin(min(1.0, math.sin(angle) / math.cos(math.radians(lat)))))
        if lon - dlon >= -180 and lon + dlon <= 180:
            box["lon"] = {"$gte": lon - dlon, "$lte": lon + dlon}
    x, y, z = unit_vector(lat, lon)
    # a hair of tolerance: a point exactly at the distance stays in despite rounding
    threshold = math.cos(angle) - 1e-12
    dot = {"$add": [{"$multiply": ["$$p.x", x]}, {"$multiply": ["$$p.y", y]}, {"$multiply": ["$$p.z", z]}]}
    positions = {"$ifNull": ["$s.near", []]}
    within = {
        "$anyElementTrue": [{"$map": {"input": positions, "as": "p", "in": {"$gte": [dot, threshold]}}}]
    }
    return [{"s.near": {"$elemMatch": box}}, {"$expr": within}]
