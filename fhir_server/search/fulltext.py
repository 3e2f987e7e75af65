"""``_text`` (the narrative) and ``_content`` (the whole resource): word search.

R4 defines both without an expression and leaves the matching to the server. Here:

- the text is cut into words: accent-folded, lowercased (as string search folds), split on
  anything that is not a letter or a digit (``Hélène-Marie`` is ``helene`` and ``marie``);
- ``_text`` reads the XHTML narrative (``text.div``, tags dropped, entities decoded);
  ``_content`` reads every string of the resource, narrative included, except those that
  are not words for people: ids, references, URLs and systems, base64 data, MIME types;
- a search value matches a resource when every word of it starts a word of the resource,
  in any order (``_content=diab type`` finds "Type 2 diabetes"); commas separate alternatives
  (ORed), like every search parameter, and repeating the parameter ANDs.

The words are extracted at write time into ``s._text`` and ``s._content`` (distinct words,
at most :data:`MAX_WORDS`, each at most :data:`MAX_WORD` characters) and indexed, so each
searched word is an anchored regex on a multikey index: a range scan. Only in deployments that
turn it on (``PASSERELLE_SEARCH_WORDS=1``, :mod:`.layout`): the words were a third of all index
entries.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.search.folding import fold

CODES = ("_text", "_content")
MAX_WORDS = 2000
MAX_WORD = 64
_WORD_RE = re.compile(r"[^\W_]+")
_TAG_RE = re.compile(r"<[^>]*>")
# Keys whose strings are identifiers, addresses or data rather than text.
_SKIP_KEYS = frozenset({
    "id", "reference", "url", "system", "fullUrl", "profile", "data", "contentType", "hash", "resourceType",
    "valueBase64Binary", "valueUri", "valueUrl", "valueCanonical",
})  # fmt: skip


def words(text: str) -> list[str]:
    """The folded words of a text, in order of first appearance, each once."""
    return list(dict.fromkeys(w for w in _WORD_RE.findall(fold(text)) if len(w) <= MAX_WORD))


def narrative_text(div: str) -> str:
    """The human-readable text of an XHTML narrative."""
    return html.unescape(_TAG_RE.sub(" ", div))


def _strings(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _SKIP_KEYS:
                continue
            if key == "text" and isinstance(value, dict) and isinstance(value.get("div"), str):
                out.append(narrative_text(value["div"]))  # the narrative's words, not its status
            else:
                _strings(value, out)
    elif isinstance(node, list):
        for item in node:
            _strings(item, out)
    elif isinstance(node, str):
        out.append(node)


def text_values(resource: dict[str, Any]) -> dict[str, list[str]]:
    """The stored ``_text`` and ``_content`` word lists of a resource (absent when empty)."""
    out: dict[str, list[str]] = {}
    narrative = resource.get("text")
    if isinstance(narrative, dict) and isinstance(narrative.get("div"), str):
        found = words(narrative_text(narrative["div"]))[:MAX_WORDS]
        if found:
            out["_text"] = found
    strings: list[str] = []
    _strings(resource, strings)
    content = list(dict.fromkeys(w for s in strings for w in words(s)))[:MAX_WORDS]
    if content:
        out["_content"] = content
    return out


def text_condition(name: str, code: str, modifier: str | None, values: list[str]) -> dict[str, Any]:
    """The condition of ``_text``/``_content`` for its (ORed, unescaped) values: every word of a
    value starts a stored word."""
    if modifier is not None:
        message = f"Modificateur :{modifier} non pris en charge sur {code}."
        raise FhirError(400, "not-supported", message, expression=[name])
    ors: list[dict[str, Any]] = []
    for raw in values:
        found = words(raw)
        if not found:
            raise FhirError(400, "invalid", f"{name} : aucun mot à chercher dans {raw!r}.", expression=[name])
        conds = [{f"s.{code}": {"$regex": "^" + re.escape(w)}} for w in found]
        ors.append(conds[0] if len(conds) == 1 else {"$and": conds})
    return ors[0] if len(ors) == 1 else {"$or": ors}
