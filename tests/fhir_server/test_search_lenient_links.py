"""``Prefer: handling=lenient``: the links say which search was really run (R4 3.1.1.5.7).

"The server SHALL return the parameters it actually used in the self link": a parameter
ignored under lenient handling is dropped from ``self`` (and the paging links); the others stay.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.conftest import FHIR_JSON

LENIENT = {"Prefer": "handling=lenient"}


def _links(bundle: dict) -> dict[str, list[tuple[str, str]]]:
    return {link["relation"]: parse_qsl(urlsplit(link["url"]).query) for link in bundle["link"]}


def test_ignored_parameter_is_not_in_the_self_and_next_links(http: httpx.Client) -> None:
    code = f"lenient-{uuid.uuid4().hex[:8]}"
    tag = f"urn:test|{code}"
    for family in ("Un", "Deux"):
        meta = {"tag": [{"system": "urn:test", "code": code}]}
        body = {"resourceType": "Patient", "meta": meta, "name": [{"family": family}]}
        assert http.post("/Patient", json=body, headers={"Content-Type": FHIR_JSON}).status_code == 201
    r = http.get("/Patient", params={"_tag": tag, "foo": "bar", "_count": "1"}, headers=LENIENT)
    assert r.status_code == 200, r.text
    links = _links(r.json())
    assert ("_tag", tag) in links["self"] and ("_count", "1") in links["self"]
    assert all(name != "foo" for name, _ in links["self"])
    assert all(name != "foo" for name, _ in links["next"])
    (next_url,) = [link["url"] for link in r.json()["link"] if link["relation"] == "next"]
    page2 = http.get(next_url, headers=LENIENT)
    assert page2.status_code == 200 and len(page2.json()["entry"]) >= 1


def test_strict_handling_still_refuses(http: httpx.Client) -> None:
    assert http.get("/Patient", params={"foo": "bar"}).status_code == 400
