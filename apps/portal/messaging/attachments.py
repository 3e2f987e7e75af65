"""Attachment checks for secure messages: at most 5 files of 10 MB, PDF / XLS(X) / DOC(X) / JPG / PNG.

The type is decided by the content, not by the name or the browser's claim: a file is accepted
when its bytes are one of the allowed formats *and* its extension names that format (a PDF
renamed ``.png`` is refused, so is an executable renamed ``.pdf``). Office formats: the legacy
ones are OLE2 compound files (the stream names tell Word from Excel); the OOXML ones are ZIP
packages whose ``[Content_Types].xml`` declares the main part (``word/`` or ``xl/``).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from apps.portal.messaging.fhir import MessagingError

MAX_FILES = 5
MAX_BYTES = 10 * 1024 * 1024  # 10 Mo

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
DOC, XLS = "application/msword", "application/vnd.ms-excel"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXTENSIONS = {
    "pdf": PDF, "png": PNG, "jpg": JPEG, "jpeg": JPEG,
    "doc": DOC, "docx": DOCX, "xls": XLS, "xlsx": XLSX,
}  # fmt: skip
OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")


class AttachmentError(MessagingError):
    """A refused attachment; the message is French and meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "pieces")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def _ole2_kind(data: bytes) -> str | None:
    # Directory entries are UTF-16LE names; Word files hold "WordDocument", Excel "Workbook"/"Book".
    if "WordDocument".encode("utf-16-le") in data:
        return DOC
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return XLS
    return None


def _ooxml_kind(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "[Content_Types].xml" not in names:
                return None
            types = z.read("[Content_Types].xml")
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError):
        return None
    if b"wordprocessingml.document.main+xml" in types and "word/document.xml" in names:
        return DOCX
    if b"spreadsheetml.sheet.main+xml" in types and "xl/workbook.xml" in names:
        return XLSX
    return None


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` among the allowed ones, from its bytes (None: not allowed)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(OLE2):
        return _ole2_kind(data)
    if data.startswith(b"PK\x03\x04"):
        return _ooxml_kind(data)
    return None


def check_attachment(filename: str, data: bytes) -> Attachment:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or "piece-jointe"
    if len(data) > MAX_BYTES:
        raise AttachmentError(f"« {name} » dépasse 10 Mo ({len(data) / 1024 / 1024:.1f} Mo).")
    if not data:
        raise AttachmentError(f"« {name} » est vide.")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    declared = EXTENSIONS.get(ext)
    if declared is None:
        raise AttachmentError(
            f"« {name} » : format non accepté (PDF, XLS, XLSX, DOC, DOCX, JPG ou PNG uniquement)."
        )
    actual = sniff(data)
    if actual != declared:
        raise AttachmentError(f"« {name} » : le contenu du fichier ne correspond pas à un {ext.upper()}.")
    return Attachment(name, actual, data)


def check_attachments(files: list[tuple[str, bytes]], already: int = 0) -> list[Attachment]:
    """Every file checked; ``already``: attachments the message (a draft) carries already."""
    if len(files) + already > MAX_FILES:
        raise AttachmentError(f"{MAX_FILES} pièces jointes au maximum par message.")
    return [check_attachment(name, data) for name, data in files]
