"""Content negotiation and (de)serialization of FHIR JSON and XML.

JSON is the fast path: stored bytes go out untouched unless ``_pretty`` asks for
indentation. XML goes through the ``fhir.resources`` R4B models, which know the
element order and the primitive/extension split that FHIR XML needs. XML input is
parsed first with a hardened lxml parser (no DTD, no entities, no network) so that
XXE and entity-expansion documents are refused before any model sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from lxml import etree
from pydantic import ValidationError
from starlette.requests import Request

from fhir_server.errors import FhirError, issue
from fhir_server.validation.expressions import loc_to_expression

JSON_TYPE = "application/fhir+json"
XML_TYPE = "application/fhir+xml"
FHIR_NS = "http://hl7.org/fhir"

_JSON_ALIASES = {"json", "application/json", "application/fhir+json", "application/json+fhir", "text/json"}
_XML_ALIASES = {"xml", "application/xml", "application/fhir+xml", "application/xml+fhir", "text/xml"}


@dataclass(frozen=True)
class Format:
    xml: bool = False
    pretty: bool = False

    @property
    def media_type(self) -> str:
        return (XML_TYPE if self.xml else JSON_TYPE) + "; charset=utf-8"


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def negotiate(request: Request) -> Format:
    """The response format from ``_format``/``Accept`` and ``_pretty``; 406 when nothing fits."""
    params = request.query_params
    pretty_raw = params.get("_pretty")
    if pretty_raw not in (None, "true", "false"):
        raise FhirError(400, "invalid", "_pretty must be 'true' or 'false'", expression=["_pretty"])
    pretty = pretty_raw == "true"
    fmt = params.get("_format")
    if fmt is not None:
        m = _media(fmt)
        if m in _JSON_ALIASES:
            return Format(False, pretty)
        if m in _XML_ALIASES:
            return Format(True, pretty)
        raise FhirError(
            406, "not-supported", f"Format {fmt!r} non pris en charge (json ou xml).", expression=["_format"]
        )
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return Format(False, pretty)
    ranked: list[tuple[float, int, str]] = []
    for pos, part in enumerate(accept.split(",")):
        pieces = part.split(";")
        media = pieces[0].strip().lower()
        q = 1.0
        for p in pieces[1:]:
            k, _, v = p.strip().partition("=")
            if k.strip() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, pos, media))
    for _, _, media in sorted(ranked):
        if media in _JSON_ALIASES or media in ("*/*", "application/*", "application/fhir+ndjson"):
            return Format(False, pretty)
        if media in _XML_ALIASES:
            return Format(True, pretty)
        if media in ("text/*", "text/html"):
            # Browsers: JSON is readable text too.
            return Format(False, pretty)
    raise FhirError(
        406, "not-supported", f"Aucun format acceptable parmi Accept: {accept!r} (JSON ou XML FHIR)."
    )


def request_is_xml(request: Request) -> bool:
    """Whether the body is XML, from Content-Type; 415 for anything that is not FHIR JSON/XML."""
    ctype = request.headers.get("content-type")
    if ctype is None:
        raise FhirError(
            415, "not-supported", "Content-Type manquant : application/fhir+json ou application/fhir+xml."
        )
    m = _media(ctype)
    if m in _JSON_ALIASES:
        return False
    if m in _XML_ALIASES:
        return True
    raise FhirError(
        415,
        "not-supported",
        f"Content-Type {ctype!r} non pris en charge : application/fhir+json ou application/fhir+xml.",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> FhirError:
    return FhirError(413, "too-costly", f"Corps de requête trop volumineux (limite {limit} octets).")


def parse_resource(data: bytes, xml: bool) -> dict[str, Any]:
    """Parse a request body into a JSON-shaped dict (400 with a location when malformed)."""
    if not data.strip():
        raise FhirError(400, "structure", "Corps de requête vide : une ressource FHIR est attendue.")
    return _parse_xml(data) if xml else _parse_json(data)


def _parse_json(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, "structure", f"JSON mal formé : {exc}") from exc
    if not isinstance(value, dict):
        raise FhirError(400, "structure", "Le corps JSON doit être un objet (une ressource FHIR).")
    return value


_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def _parse_xml(data: bytes) -> dict[str, Any]:
    try:
        root = etree.fromstring(data, parser=_XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise FhirError(400, "structure", f"XML mal formé : {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise FhirError(400, "security", "Les documents XML avec DOCTYPE sont refusés.")
    qname = etree.QName(root)
    if qname.namespace != FHIR_NS:
        raise FhirError(400, "structure", f"L'élément racine doit être dans l'espace de noms {FHIR_NS}.")
    from fhir_server.validation import RESOURCE_TYPES  # computed on first use, not at import

    if qname.localname not in RESOURCE_TYPES:
        raise FhirError(404, "not-supported", f"Type de ressource inconnu : {qname.localname}.")
    model = get_fhir_model_class(qname.localname)
    try:
        parsed = model.model_validate_xml(etree.tostring(root))
    except ValidationError as exc:
        issues = [
            issue("error", "structure", err["msg"], [loc_to_expression(qname.localname, err["loc"])])
            for err in exc.errors()
        ]
        raise FhirError(400, "structure", "XML invalide", issues=issues) from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FhirError(400, "structure", f"XML FHIR invalide : {exc}") from exc
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


def render(resource: dict[str, Any] | bytes, fmt: Format) -> bytes:
    """Serialize a resource (a dict, or stored JSON bytes) in the negotiated format."""
    if not fmt.xml:
        if isinstance(resource, bytes):
            if not fmt.pretty:
                return resource
            resource = orjson.loads(resource)
        return orjson.dumps(resource, option=orjson.OPT_INDENT_2 if fmt.pretty else 0)
    data = orjson.loads(resource) if isinstance(resource, bytes) else resource
    model = get_fhir_model_class(data["resourceType"]).model_validate(data)
    xml = model.model_dump_xml()
    if fmt.pretty:
        xml = etree.tostring(etree.fromstring(xml, parser=_XML_PARSER), pretty_print=True)
    return xml
