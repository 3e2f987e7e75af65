"""Record the shape of every database command the server sends, for ``docs/scaling.md``.

Why: whether a query is targeted or scatter-gather on a sharded cluster depends on its filter
and on the collection's shard key, so the scaling document lists every query shape the server
issues, and a test keeps that list true (``tests/fhir_server/test_query_shapes.py``). A list
written by hand would drift with every change of the index layout or the search code.

How: with ``PASSERELLE_QUERY_SHAPES`` set to a file, importing :mod:`fhir_server` registers a
pymongo command listener (the driver's own monitoring API: every client created afterwards,
sync or async, reports every command). Each command is reduced to a shape: the collection
(resource-type collections folded to ``<Type>``), the operation, the filter's field names and
operators with every value elided (``{"_id": ?}``, ``{"s.code": {"$in": [?]}}``), sort keys,
update operators, index keys; whether it ran inside a multi-document transaction; and which
function of the server issued it (first frame of our code on the stack). Shapes are appended to
the file as JSON lines (one process or many: each line is written whole with ``O_APPEND``).

:func:`shape_rows` folds recorded lines into table rows, :func:`render` makes the Markdown
table (with the shard key of each collection and whether the shape is targeted), and
:func:`update_document` rewrites it between the markers of ``docs/scaling.md``.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

ENV = "PASSERELLE_QUERY_SHAPES"
BEGIN = "<!-- query-shapes:begin (generated: do not edit by hand) -->"
END = "<!-- query-shapes:end -->"
ROOT = Path(__file__).resolve().parents[1]
_OUR_CODE = tuple(
    str(ROOT / part) + os.sep for part in ("fhir_server", "apps", "ehdsi_gateway", "terminology")
)
_SKIP_FILES = (str(Path(__file__).resolve()),)

# Commands that are not queries: connection handshakes, cursors continued, sessions, transactions.
_IGNORED = frozenset(
    {
        "hello", "ismaster", "isMaster", "ping", "buildInfo", "buildinfo", "saslStart", "saslContinue",
        "endSessions", "getMore", "killCursors", "commitTransaction", "abortTransaction",
        "listDatabases", "serverStatus", "getParameter", "dropDatabase", "connectionStatus",
    }
)  # fmt: skip

# Shard key of each collection (see docs/scaling.md for the reasons). ``<Type>`` stands for every
# resource-type collection (current versions). A shape is *targeted* when its filter fixes every
# field of the shard key (equality or ``$in``); an insert is routed by the document's own key.
SHARD_KEYS: dict[str, tuple[str, ...]] = {
    "<Type>": ("_id",),
    "history": ("t", "i"),
}
_BROADCAST = frozenset({"createIndexes", "dropIndexes", "listIndexes", "create", "drop", "listCollections"})


def resource_types() -> frozenset[str]:
    from fhir_server.validation import RESOURCE_TYPES

    return RESOURCE_TYPES


def collection_name(name: str, types: frozenset[str] | None = None) -> str:
    """``Observation`` -> ``<Type>``; every other collection keeps its name."""
    types = resource_types() if types is None else types
    return "<Type>" if name in types else name


_PARAM = re.compile(r"^s\.[a-z][a-z0-9-]*")


def field_name(name: str) -> str:
    """A stored field with the search parameter's name folded: ``s.family:p`` -> ``s.<param>:p``.

    What a shape says about routing and indexes does not depend on which of the ~1,300 search
    parameters it names; common parameters (``s._lastUpdated``, ``s._content``) and the server's
    own fields (``s.~v``) keep their names.
    """
    return _PARAM.sub("s.<param>", name)


def _value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return filter_shape(value)
    if isinstance(value, list | tuple):
        return "[?]"
    return "?"


def filter_shape(query: Mapping[str, Any]) -> dict[str, Any]:
    """Field names and operators of a filter, every value replaced by ``?`` (sorted keys)."""
    out: dict[str, Any] = {}
    for key in sorted(query):
        value = query[key]
        if key in ("$and", "$or", "$nor") and isinstance(value, list | tuple):
            parts = sorted({orjson.dumps(filter_shape(v), option=orjson.OPT_SORT_KEYS) for v in value
                            if isinstance(v, Mapping)})  # fmt: skip
            out[key] = [orjson.loads(p) for p in parts]
        elif key.startswith("$"):
            if key in ("$elemMatch", "$not") and isinstance(value, Mapping):
                out[key] = filter_shape(value)
            elif key in ("$in", "$nin", "$all"):
                out[key] = "[?]"
            elif key == "$exists":
                out[key] = bool(value)
            else:
                out[key] = "?"
        elif isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
            out[field_name(key)] = filter_shape(value)
        else:
            out[field_name(key)] = "?"
    return out


def _compact(value: Any) -> str:
    return (
        orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode().replace('"?"', "?").replace('"[?]"', "[?]")
    )


def _keys(spec: Any) -> str:
    """A sort or index key pattern, values kept (1, -1, 'text'...)."""
    if isinstance(spec, Mapping):
        return ", ".join(f"{field_name(k)}: {v}" for k, v in spec.items())
    return str(spec)


def _update_ops(update: Any) -> str:
    if isinstance(update, Mapping):
        ops = sorted(k for k in update if str(k).startswith("$"))
        return " ".join(ops) if ops else "replacement"
    if isinstance(update, list):
        return "pipeline"
    return "?"


def _pipeline(stages: Iterable[Any]) -> str:
    parts: list[str] = []
    for stage in stages:
        if not isinstance(stage, Mapping) or not stage:
            continue
        name, body = next(iter(stage.items()))
        if name == "$match" and isinstance(body, Mapping):
            parts.append(f"$match {_compact(filter_shape(body))}")
        elif name == "$sort" and isinstance(body, Mapping):
            parts.append(f"$sort {{{_keys(body)}}}")
        elif name == "$group" and isinstance(body, Mapping):
            group = body.get("_id")
            parts.append(f"$group by {', '.join(sorted(group)) if isinstance(group, Mapping) else group}")
        elif name in ("$lookup", "$unwind", "$project", "$count", "$limit", "$skip", "$facet", "$addFields"):
            parts.append(name)
        else:
            parts.append(name)
    return " | ".join(parts)


def command_shapes(name: str, command: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(collection, operation, shape) for one command (several for a bulk update/delete)."""
    collection = command.get(name)
    if not isinstance(collection, str):
        collection = "(database)"
    if name == "find":
        shape = _compact(filter_shape(command.get("filter") or {}))
        if command.get("sort"):
            shape += f" sort {{{_keys(command['sort'])}}}"
        if command.get("hint"):
            shape += f" hint {{{_keys(command['hint'])}}}"
        return [(collection, "find", shape)]
    if name == "aggregate":
        return [(collection, "aggregate", _pipeline(command.get("pipeline") or []))]
    if name in ("count", "distinct"):
        shape = _compact(filter_shape(command.get("query") or {}))
        if name == "distinct":
            shape = f"{command.get('key')} where {shape}"
        return [(collection, name, shape)]
    if name == "insert":
        return [(collection, "insert", "documents")]
    if name == "update":
        out = []
        for update in command.get("updates") or []:
            shape = f"{_compact(filter_shape(update.get('q') or {}))} {_update_ops(update.get('u'))}"
            if update.get("upsert"):
                shape += " upsert"
            if update.get("multi"):
                shape += " multi"
            out.append((collection, "update", shape))
        return out
    if name == "delete":
        out = []
        for delete in command.get("deletes") or []:
            shape = _compact(filter_shape(delete.get("q") or {}))
            out.append((collection, "delete" if delete.get("limit") else "delete many", shape))
        return out
    if name == "findAndModify":
        shape = _compact(filter_shape(command.get("query") or {}))
        if command.get("sort"):
            shape += f" sort {{{_keys(command['sort'])}}}"
        shape += " remove" if command.get("remove") else f" {_update_ops(command.get('update'))}"
        if command.get("upsert"):
            shape += " upsert"
        return [(collection, "findAndModify", shape)]
    if name == "createIndexes":
        out = []
        for index in command.get("indexes") or []:
            shape = f"{{{_keys(index.get('key'))}}}"
            for option in ("unique", "sparse"):
                if index.get(option):
                    shape += f" {option}"
            if "expireAfterSeconds" in index:
                shape += " ttl"
            if index.get("partialFilterExpression"):
                shape += f" partial {_compact(filter_shape(index['partialFilterExpression']))}"
            out.append((collection, "createIndexes", shape))
        return out
    if name == "dropIndexes":
        return [
            (
                collection,
                "dropIndexes",
                str(command.get("index", "?")) if command.get("index") == "*" else "?",
            )
        ]
    return [(collection, name, "")]


def _origin() -> str:
    """``module.function`` of the first frame of our code below the driver."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_OUR_CODE) and not path.startswith(_SKIP_FILES):
            module = Path(path).relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            return f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


class ShapeRecorder:
    """A pymongo ``CommandListener`` appending the shape of each command to a JSON-lines file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.seen: set[tuple[str, ...]] = set()

    def started(self, event: Any) -> None:
        try:
            name = event.command_name
            if name in _IGNORED or event.database_name in ("admin", "config", "local"):
                return
            command = event.command
            txn = bool(command.get("txnNumber") is not None and command.get("autocommit") is False)
            origin = _origin()
            for collection, operation, shape in command_shapes(name, command):
                key = (collection, operation, shape, str(txn), origin)
                with self.lock:
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                line = orjson.dumps({"collection": collection, "op": operation, "shape": shape, "txn": txn,
                                     "origin": origin}) + b"\n"  # fmt: skip
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        except Exception:  # never disturb the server for a diagnostic
            pass

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


_installed: list[ShapeRecorder] = []


def install_from_env() -> None:
    """Register the recorder when ``PASSERELLE_QUERY_SHAPES`` names a file (once per process)."""
    path = os.environ.get(ENV, "").strip()
    if not path or _installed:
        return
    from pymongo import monitoring

    recorder = ShapeRecorder(path)

    class _Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            recorder.started(event)

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    monitoring.register(_Listener())
    _installed.append(recorder)


# -- the table -------------------------------------------------------------------------------------


def load(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def shape_rows(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """(collection, operation, shape, transaction, issued by) rows, sorted, origins merged."""
    types = resource_types()
    merged: dict[tuple[str, str, str], tuple[set[bool], set[str]]] = {}
    for record in records:
        key = (collection_name(str(record["collection"]), types), str(record["op"]), str(record["shape"]))
        txns, origins = merged.setdefault(key, (set(), set()))
        txns.add(bool(record.get("txn")))
        origins.add(str(record.get("origin", "?")))
    rows = []
    for (collection, operation, shape), (txns, origins) in sorted(merged.items()):
        txn = "both" if len(txns) == 2 else ("yes" if True in txns else "no")
        rows.append((collection, operation, shape, txn, ", ".join(sorted(origins))))
    return rows


def routing(collection: str, operation: str, shape: str) -> str:
    """``targeted`` / ``scatter-gather`` / ``broadcast`` / ``one shard`` for a row, given SHARD_KEYS."""
    if operation in _BROADCAST:
        return "broadcast"
    key = SHARD_KEYS.get(collection)
    if key is None:
        return "primary shard"
    if operation == "insert":
        return "targeted"
    try:
        head = shape.split(" sort ")[0].split(" hint ")[0]
        if operation == "aggregate":
            head = head.removeprefix("$match ").split(" | ")[0] if head.startswith("$match ") else "{}"
        elif operation in ("update", "findAndModify"):
            head = head.rsplit("}", 1)[0] + "}"
        elif operation == "distinct":
            head = head.split(" where ", 1)[1]
        parsed = orjson.loads(head.replace("[?]", "\x00").replace("?", '"?"').replace("\x00", '"[?]"'))
    except (ValueError, IndexError):
        return "scatter-gather"
    fixed = all(
        field in parsed
        and (parsed[field] == "?" or (isinstance(parsed[field], dict) and "$in" in parsed[field]))
        for field in key
    )
    return "targeted" if fixed else "scatter-gather"


def _cell(text: str) -> str:
    return f"`{text}`".replace("|", "\\|") if text else ""


def render(rows: list[tuple[str, str, str, str, str]]) -> str:
    lines = [
        "| collection | operation | shape (values elided) | in a transaction | routing | issued by |",
        "|---|---|---|---|---|---|",
    ]
    for collection, operation, shape, txn, origins in rows:
        origin_cell = "<br>".join(f"`{o}`" for o in origins.split(", "))
        route = routing(collection, operation, shape)
        lines.append(f"| `{collection}` | {operation} | {_cell(shape)} | {txn} | {route} | {origin_cell} |")
    return "\n".join(lines)


def documented_rows(document: str) -> list[tuple[str, str, str, str, str]]:
    """The rows of the table between the markers of ``document`` (as :func:`render` wrote them)."""
    if BEGIN not in document or END not in document:
        return []
    block = document.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = []
    for line in block.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        collection, operation, shape, txn, _routing, origins = cells[:6]
        rows.append(
            (
                collection.strip("`"),
                operation,
                shape.strip("`").replace("\\|", "|"),
                txn,
                ", ".join(o.strip("`") for o in origins.split("<br>")),
            )
        )
    return rows


def update_document(document: str, rows: list[tuple[str, str, str, str, str]]) -> str:
    table = render(rows)
    if BEGIN not in document or END not in document:
        return f"{document.rstrip()}\n\n{BEGIN}\n{table}\n{END}\n"
    before, rest = document.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{BEGIN}\n{table}\n{END}{after}"
