"""NIR keys, attachment checks and the fund → ELSM table, without a server."""

from __future__ import annotations

import pytest

from apps.portal.messaging import (
    MAX_BYTES,
    AttachmentError,
    MessagingError,
    check_attachments,
    check_nir,
    parse_table,
    routing_table,
    sniff,
)
from apps.portal.messaging.attachments import DOC, DOCX, JPEG, PDF, PNG, XLS, XLSX
from tests.portal.messaging import files


@pytest.mark.parametrize(
    "nir",
    ["255081416802538", "295109912611193", "253072B07300470", "253072A07300443", "2 55 08 14 168 025 38"],
)
def test_valid_nir_keys_from_docs_france(nir: str) -> None:
    # docs/france.md §2.2 test vectors (2A → 19, 2B → 18 before the mod-97 key)
    assert len(check_nir(nir)) == 15


@pytest.mark.parametrize(
    ("nir", "why"),
    [
        ("295109912611199", "clé"),  # the invalid vector of docs/france.md
        ("288091720220371", "clé"),  # the ANS PoC demo NIR: its key should be 68
        ("2550814168025", "15 caractères"),
        ("", "Saisissez"),
    ],
)
def test_invalid_nir_gets_a_french_message(nir: str, why: str) -> None:
    with pytest.raises(MessagingError) as err:
        check_nir(nir)
    assert why in str(err.value) and err.value.field == "nir"


def test_each_allowed_format_is_recognised_by_its_content() -> None:
    made = {
        "a.pdf": (files.pdf(), PDF), "b.png": (files.png(), PNG), "c.jpg": (files.jpeg(), JPEG),
        "d.docx": (files.docx(), DOCX), "e.xlsx": (files.xlsx(), XLSX),
    }  # fmt: skip
    for name, (data, kind) in made.items():
        assert sniff(data) == kind, name
    assert sniff(files.doc()) == DOC and sniff(files.xls()) == XLS
    checked = check_attachments([(n, d) for n, (d, _) in made.items()])
    assert [a.content_type for a in checked] == [k for _, k in made.values()]


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("photo.png", files.pdf(), "ne correspond pas"),  # a PDF renamed
        ("ordonnance.pdf", b"MZ\x90\x00" + b"\x00" * 60, "ne correspond pas"),  # an executable renamed
        ("script.exe", b"MZ\x90\x00", "format non accepté"),
        ("archive.docx", files.xlsx(), "ne correspond pas"),  # a workbook is not a Word document
        ("vide.pdf", b"", "vide"),
        ("gros.pdf", files.big(11 * 1024 * 1024), "10 Mo"),
    ],
)
def test_refused_attachments(name: str, data: bytes, why: str) -> None:
    with pytest.raises(AttachmentError) as err:
        check_attachments([(name, data)])
    assert why in str(err.value)


def test_ten_megabytes_is_the_limit_and_five_files_the_most() -> None:
    assert check_attachments([("limite.pdf", files.big(MAX_BYTES))])[0].size == 10 * 1024 * 1024
    five = [(f"f{i}.pdf", files.pdf()) for i in range(5)]
    assert len(check_attachments(five)) == 5
    with pytest.raises(AttachmentError, match="5 pièces jointes au maximum"):
        check_attachments([*five, ("sixieme.png", files.png())])
    with pytest.raises(AttachmentError, match="5 pièces jointes au maximum"):
        check_attachments([("un.pdf", files.pdf())], already=5)


def test_the_fund_table_routes_each_fund_to_its_echelon() -> None:
    table = routing_table()
    assert table.echelon_of("01-751").name == "ELSM de Paris"  # type: ignore[union-attr]
    assert table.echelon_of("02-069").code == "ELSM-69"  # type: ignore[union-attr]  # MSA Ain-Rhône
    assert table.echelon_of("99-999") is None
    custom = parse_table(
        b'{"caisses": {"01-131": {"nom": "CPAM 13", "elsm": "E13"}}, "echelons": {"E13": {"nom": "ELSM 13"}}}'
    )
    assert custom.echelon_of("01-131").name == "ELSM 13"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="échelon inconnu"):
        parse_table(b'{"caisses": {"01-131": {"nom": "CPAM 13", "elsm": "E99"}}, "echelons": {}}')
