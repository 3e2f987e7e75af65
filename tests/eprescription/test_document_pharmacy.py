"""The PDF (text and QR code read back from the rendered page) and the pharmacy counter over the API."""

from __future__ import annotations

import concurrent.futures
import io
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from eprescription import display, new_number
from tests.eprescription.rx_support import lab_line, medication_line, params, post, practice, sms_code, value


def _signed(http: httpx.Client, server: Any, *numbers: str, phone: str) -> None:
    asked = http.post("/$sign-request", json=params(*(("prescription", n) for n in numbers)))
    assert asked.status_code == 200, asked.text
    code = sms_code(server.data_dir, phone)
    done = http.post("/$sign", json=params(("challenge", value(asked.json(), "challenge")), ("code", code)))
    assert done.status_code == 200, done.text


@pytest.fixture()
def signed(http: httpx.Client, server: Any) -> dict[str, Any]:
    """Two ordonnances of one consultation (medicines, a bilan), signed with one code."""
    phone = "+337" + str(uuid.uuid4().int)[:8]
    ids = practice(http, phone=phone)
    drugs, lab = new_number(), new_number()
    first = post(http, medication_line(ids, drugs, "Amoxicilline 1 g, comprimé"))
    second = post(
        http,
        medication_line(
            ids, drugs, "Ibuprofène 400 mg, comprimé",
            substitution={"allowedBoolean": False},
            extension=[{"url": "urn:passerelle:extension:remboursable", "valueBoolean": False}],
            dosageInstruction=[{"text": "1 comprimé si douleur, 3 par jour au plus"}],
        ),
    )  # fmt: skip
    post(http, lab_line(ids, lab))
    _signed(http, server, drugs, lab, phone=phone)
    return {**ids, "drugs": drugs, "lab": lab, "lines": [first["id"], second["id"]]}


def _pdf(http: httpx.Client, number: str) -> bytes:
    resp = http.get("/$ordonnance-pdf", params={"prescription": number})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    return resp.content


def test_pdf_holds_every_mandatory_element(http: httpx.Client, signed: dict[str, Any]) -> None:
    data = _pdf(http, signed["drugs"])
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "Dr Marie MARTIN", "Médecine générale", "CENTRE DE SANTE PARIS 15",
        "12 rue de Vaugirard", "75015 Paris",
        "RPPS : 99700366240", "FINESS : 750712184",
        "DUPONT Alice", "Né(e) le 17/05/1980", "Sexe : Féminin", "Poids : 62 kg",
        "ORDONNANCE", display(signed["drugs"]),
        "Amoxicilline 1 g, comprimé", "1 comprimé matin et soir pendant 6 jours", "Quantité : 12 comprimé(s)",
        "Durée : 6 jour(s)", "Remboursable",
        "Ibuprofène 400 mg, comprimé", "Non substituable", "Non remboursable (NR)",
        "signée électroniquement", "code à usage unique envoyé par SMS",
        "Zone réservée au pharmacien", "Vérifiez l'identité du patient",
    ):  # fmt: skip
        assert expected in text, expected
    assert "Le " in text and " à " in text  # date and time of signature
    lab = PdfReader(io.BytesIO(_pdf(http, signed["lab"]))).pages[0].extract_text()
    assert "ORDONNANCE D'EXAMENS DE BIOLOGIE" in lab and "NFS, ionogramme sanguin" in lab


def _qr_url(data: bytes) -> str:
    """The QR code decoded from the rendered last page (zxing-cpp on the pixels, 150 dpi)."""
    document = pypdfium2.PdfDocument(data)
    image = document[len(document) - 1].render(scale=150 / 72).to_pil()
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(codes) == 1, codes
    return codes[0].text


def test_qr_code_leads_to_the_pharmacy_check(http: httpx.Client, server: Any, signed: dict[str, Any]) -> None:
    url = _qr_url(_pdf(http, signed["drugs"]))
    parts = urlsplit(url)
    assert parts.path == f"/pharmacie/ordonnance/{signed['drugs']}"
    assert f"127.0.0.1:{server.port}" in parts.netloc
    token = parse_qs(parts.query)["t"][0]
    assert "Dupont" not in url and "1980" not in url  # no patient data in the code
    check = http.get("/$pharmacy-check", params={"prescription": signed["drugs"], "token": token})
    assert check.status_code == 200, check.text
    assert value(check.json(), "status") == "delivrable"
    assert value(check.json(), "message") == "Ordonnance délivrable"
    # a modified token, a token of another ordonnance, a made-up one: refused
    other = parse_qs(urlsplit(_qr_url(_pdf(http, signed["lab"]))).query)["t"][0]
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    for forged in (flipped, other, "eyJhbGciOiJub25lIn0.eyJuIjoiMSJ9.", "n'importe quoi"):
        resp = http.get("/$pharmacy-check", params={"prescription": signed["drugs"], "token": forged})
        assert resp.status_code == 403 and "QR code non reconnu" in resp.text, forged


def test_dispense_once_partial_then_already_delivered(http: httpx.Client, signed: dict[str, Any]) -> None:
    number = signed["drugs"]
    first, second = signed["lines"]
    pharmacy = {"reference": "Practitioner/pharmacien-test", "display": "PHARMACIE DU CENTRE"}
    body = params(("prescription", number))
    body["parameter"] += [
        {"name": "performer", "valueReference": pharmacy},
        {"name": "line", "part": [
            {"name": "request", "valueReference": {"reference": f"MedicationRequest/{first}"}},
            {"name": "quantity", "valueQuantity": {"value": 6, "unit": "comprimé(s)"}},
        ]},
    ]  # fmt: skip
    done = http.post("/$dispense", json=body)
    assert done.status_code == 200, done.text
    dispenses = [
        p["valueReference"]["reference"] for p in done.json()["parameter"] if p["name"] == "dispense"
    ]
    assert len(dispenses) == 1
    dispense = http.get(f"/{dispenses[0]}").json()
    assert dispense["quantity"]["value"] == 6 and dispense["type"]["coding"][0]["code"] == "FFP"
    assert dispense["authorizingPrescription"] == [{"reference": f"MedicationRequest/{first}"}]
    assert http.get(f"/MedicationRequest/{first}").json()["status"] == "completed"
    assert http.get(f"/MedicationRequest/{second}").json()["status"] == "stopped"
    again = http.get("/$pharmacy-check", params={"prescription": number})
    assert value(again.json(), "status") == "deja-delivree"
    message = value(again.json(), "message")
    assert message.startswith("Ordonnance déjà délivrée le ") and "PHARMACIE DU CENTRE" in message
    twice = http.post("/$dispense", json=body)
    assert twice.status_code == 409 and "déjà délivrée" in twice.text
    found = http.get("/MedicationDispense", params={"prescription": f"MedicationRequest/{first}"}).json()
    assert len(found.get("entry", [])) == 1


def test_two_pharmacies_at_the_same_moment(http: httpx.Client, signed: dict[str, Any]) -> None:
    number = signed["drugs"]

    line = f"MedicationRequest/{signed['lines'][0]}"

    def dispense(index: int) -> int:
        body = params(("prescription", number))
        body["parameter"] += [
            {"name": "performer", "valueReference": {"reference": f"Practitioner/pharmacie-{index}",
                                                      "display": f"PHARMACIE {index}"}},
            {"name": "line", "part": [
                {"name": "request", "valueReference": {"reference": line}}
            ]},
        ]  # fmt: skip
        with httpx.Client(base_url=http.base_url, timeout=60) as client:
            return client.post("/$dispense", json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(dispense, range(6)))
    assert results.count(200) == 1 and results.count(409) == 5, results
    refs = [f"MedicationRequest/{line}" for line in signed["lines"]]
    found = http.get("/MedicationDispense", params={"prescription": ",".join(refs)}).json()
    assert len(found.get("entry", [])) == 1


def test_drafts_have_no_pdf_and_are_unknown_at_the_pharmacy(http: httpx.Client) -> None:
    phone = "+337" + str(uuid.uuid4().int)[:8]
    ids = practice(http, phone=phone)
    number = new_number()
    post(http, medication_line(ids, number))
    assert http.get("/$ordonnance-pdf", params={"prescription": number}).status_code == 409
    assert http.get("/$pharmacy-check", params={"prescription": number}).status_code == 404
    assert http.get("/$pharmacy-check", params={"prescription": "1234"}).status_code == 400
