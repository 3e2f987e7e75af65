"""Cross-border patient summary (issue 19) in a real headless Chromium, against a real server and
mock foreign NCPs (``passerelle gateway mock-peer``, separate processes over real HTTP).

Expected values come from the sample CDA documents themselves and from the terminology
service, never from the page's own code: the sections a CDA has (LOINC codes, French titles
from the test's own table), the clinical codes of its entries and whether the terminology
has a French designation for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from playwright.sync_api import Page, expect

from bench.harness import ServerProcess
from cda_transform import to_fhir
from ehdsi_gateway.mock_peer import home_community_of
from fhir_server.embedded import free_port
from fhir_server.identifiers import luhn_check_digit
from tests.conftest import SHARED, shared_reason
from tests.ehdsi_gateway.support import MockPeer
from tests.portal.browser import DR_MARTIN, psc_steps, shot

SAMPLES = SHARED / "ehdsi" / "samples"
pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason=shared_reason("ehdsi", "samples"))

V3 = {"v": "urn:hl7-org:v3"}
DR_DURAND = "8" + "9970000101" + luhn_check_digit("9970000101")  # médecine du travail (SM25)

#: French section titles, LOINC -> title (the service's vocabulary, written here independently)
FRENCH_TITLES = {
    "10160-0": "Traitements médicamenteux",
    "48765-2": "Allergies, effets indésirables, alertes",
    "11450-4": "Problèmes actifs",
    "11348-0": "Antécédents médicaux",
    "47519-4": "Antécédents chirurgicaux et actes",
    "46264-8": "Dispositifs médicaux",
    "11369-6": "Vaccinations",
    "30954-2": "Résultats d'examens",
    "8716-3": "Signes vitaux",
    "10162-6": "Antécédents de grossesse",
    "29762-2": "Mode de vie",
}
#: clinical code systems (CDA OID -> FHIR URI, from the FHIR R4 terminology pages)
CLINICAL = {
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.73": "http://www.whocc.no/atc",
}

# country -> (sample file, identifier domain, search mask format, birth date, gender)
CASES = {
    "CZ": ("cz__8555189999_L3_corr.xml", "2.16.840.1.113883.2.40.1", r"^\d{9,10}$", "1985-05-18", ""),
    "MT": (
        "django__MT_Mario_Borg_9999002M_3.xml",
        "2.16.470.1.100.1.1.1000.990.1.1",
        r"^\d{7}[A-Z]$",
        "",
        "",
    ),
    "PT": (
        "dk__national-connector_cda-generator_src_test_resources_patient-summary-examples_"
        "PT_CDA_W3_898765405_CongestiveHeartFailure.xml",
        "2.16.620.1.101.10.1.1",
        r"^\d{9}$",
        "",
        "F",
    ),
}
SCENARIO_DOMAIN = "2.999.1"


def _mask(domain: str, fmt: str, birth: bool | None, gender: bool | None) -> dict[str, object]:
    ident = {
        "domain": domain,
        "format": fmt,
        "mandatory": True,
        "label": "label.ism.nationalPersonIdentifier",
    }
    return {"identifiers": [ident], "birth_date": birth, "gender": gender}


@pytest.fixture(scope="module")
def peers(portal_server: ServerProcess) -> Iterator[dict[str, MockPeer]]:
    """Mock NCPs for CZ, MT, PT (inline search masks) and HR (its published ISM: the scenarios),
    and LU registered at a port where nothing listens (country unreachable)."""
    data_dir = Path(portal_server.data_dir)
    mocks = {c: MockPeer(data_dir, c, slow=25) for c in ("CZ", "MT", "PT", "HR")}
    started: list[MockPeer] = []
    try:
        for mock in mocks.values():
            started.append(mock.start())
        registry: dict[str, dict[str, object]] = {}
        for country, mock in mocks.items():
            spec: dict[str, object] = {
                "home_community_id": home_community_of(country),
                "xcpd_url": f"{mock.url}/XCPD_Service",
                "xca_url": f"{mock.url}/XCA_Service",
            }
            if country == "HR":
                spec["ism_url"] = f"{mock.url}/ism.xml"
            else:
                _, domain, fmt, _, _ = CASES[country]
                spec["search_mask"] = _mask(domain, fmt, country == "CZ", True if country == "PT" else None)
            registry[country] = spec
        dead = f"http://127.0.0.1:{free_port()}/ehdsi"
        registry["LU"] = {
            "home_community_id": home_community_of("LU"),
            "xcpd_url": f"{dead}/XCPD_Service",
            "xca_url": f"{dead}/XCA_Service",
            "search_mask": _mask(SCENARIO_DOMAIN, r"^\d{13}$", None, None),
        }
        path = data_dir / "ehdsi" / "peers.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"peers": registry}))
        yield mocks
    finally:
        for mock in started:
            mock.stop()


def enter(page: Page, idnat: str = DR_MARTIN) -> None:
    """Access screen: accept the terms, Pro Santé Connect, land on the search screen."""
    page.goto("/transfrontalier")
    page.get_by_label(re.compile("j'accepte les conditions générales")).check()
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    psc_steps(page, idnat)


def choose(page: Page, country: str) -> None:
    page.get_by_label("Pays d'affiliation du patient").select_option(country)
    expect(page.get_by_role("heading", name=re.compile("Traits d'identité demandés"))).to_be_visible()


def search(page: Page, country: str, ident: str, birth: str = "", gender: str = "", domain: str = "") -> None:
    page.goto("/transfrontalier/recherche")
    choose(page, country)
    if domain:
        page.get_by_label("Type d'identifiant").select_option(domain)
    page.locator("#identifiant").fill(ident)
    if birth:
        page.get_by_label("Date de naissance").fill(birth)
    if gender:
        page.get_by_label("Sexe").select_option(gender)
    page.get_by_role("button", name="Rechercher le patient").click()


def expected(sample: Path) -> tuple[list[str], dict[tuple[str, str], bool], set[str]]:
    """From the CDA: its top-level section codes, its entries' clinical codes (-> has a French
    designation in the terminology service), and the sections whose narrative has words."""
    import terminology

    root = etree.parse(str(sample)).getroot()
    codes: list[str] = []
    clinical: dict[tuple[str, str], bool] = {}
    narrative: set[str] = set()
    for sec in root.iterfind("v:component/v:structuredBody/v:component/v:section", V3):
        code = sec.find("v:code", V3)
        loinc = code.get("code") if code is not None else ""
        codes.append(loinc)
        text = sec.find("v:text", V3)
        if text is not None and "".join(text.itertext()).strip():
            narrative.add(loinc)
        for el in sec.iterfind("v:entry//*[@code][@codeSystem]", V3):
            system = CLINICAL.get(el.get("codeSystem", ""))
            if system:
                clinical[(system, el.get("code", ""))] = bool(
                    terminology.display(system, el.get("code", ""), "fr-FR")
                )
    return codes, clinical, narrative


# --- access ---------------------------------------------------------------------------------


def test_terms_must_be_accepted_then_psc(page: Page, peers: dict[str, MockPeer]) -> None:
    page.goto("/transfrontalier")
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    expect(page.locator("#cgu-error")).to_contain_text("Vous devez accepter les conditions générales")
    page.get_by_label(re.compile("j'accepte les conditions générales")).check()
    page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    psc_steps(page, DR_MARTIN)
    expect(page).to_have_url(re.compile("/transfrontalier/recherche$"))
    options = page.locator("#pays option").all_inner_texts()
    for name in ("République tchèque", "Malte", "Portugal", "Croatie", "Luxembourg"):
        assert name in options


def test_search_needs_terms_even_when_logged_in(doctor: Page, peers: dict[str, MockPeer]) -> None:
    doctor.goto("/transfrontalier/recherche")
    expect(doctor).to_have_url(re.compile("/transfrontalier$"))
    expect(doctor.get_by_role("heading", name="Conditions générales d'utilisation")).to_be_visible()


def test_ineligible_professional_is_refused_with_the_faq(page: Page, peers: dict[str, MockPeer]) -> None:
    enter_page = page
    enter_page.goto("/transfrontalier")
    enter_page.get_by_label(re.compile("j'accepte les conditions générales")).check()
    enter_page.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    enter_page.get_by_role("link", name=re.compile("Pro Santé Connect")).click()
    enter_page.locator(f'input[name="idnat"][value="{DR_DURAND}"]').check()
    enter_page.get_by_role("button", name="Se connecter").click()
    expect(enter_page.get_by_role("heading", name="Accès refusé")).to_be_visible()
    expect(enter_page.get_by_text("médecine du travail n'ouvre pas droit à ce service")).to_be_visible()
    expect(enter_page.get_by_text("Pourquoi mon accès est-il refusé ? (FAQ)")).to_be_visible()
    expect(
        enter_page.get_by_text("vous exercez pour le compte d'un organisme d'assurance privé")
    ).to_be_visible()
    shot(enter_page, "crossborder-refus")


# --- search ---------------------------------------------------------------------------------


def test_form_follows_the_country_mask_and_validates(page: Page, peers: dict[str, MockPeer]) -> None:
    enter(page)
    choose(page, "CZ")
    birth = page.get_by_label("Date de naissance")
    expect(birth).to_have_attribute("required", "")
    expect(page.get_by_label("Sexe")).to_have_count(0)  # CZ's mask does not ask for it
    expect(page.get_by_text(r"Format attendu : ^\d{9,10}$")).to_be_visible()
    page.get_by_text("Où trouver ces informations ?").click()
    expect(page.get_by_text("rodné číslo")).to_be_visible()
    # client side: the browser refuses the format, in French
    page.locator("#identifiant").fill("12AB")
    birth.fill("1985-05-18")
    page.get_by_role("button", name="Rechercher le patient").click()
    expect(page).to_have_url(re.compile("/transfrontalier/recherche"))
    message = page.locator("#identifiant").evaluate("e => e.validationMessage")
    assert "n'a pas le format attendu" in message
    # server side: same refusal, French, what was typed kept
    page.locator("#traits").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Rechercher le patient").click()
    expect(
        page.get_by_text("L'identifiant « 12AB » n'a pas le format attendu pour ce pays.").first
    ).to_be_visible()
    expect(page.locator("#identifiant")).to_have_value("12AB")
    expect(page.get_by_label("Date de naissance")).to_have_value("1985-05-18")
    # a mandatory birth date
    page.locator("#identifiant").fill("8555189999")
    page.get_by_label("Date de naissance").fill("")
    page.locator("#traits").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Rechercher le patient").click()
    expect(page.get_by_text("La date de naissance est obligatoire pour ce pays.").first).to_be_visible()
    # PT asks for the gender
    choose(page, "PT")
    expect(page.get_by_label("Sexe")).to_have_attribute("required", "")


# --- the whole flow, per country --------------------------------------------------------------


@pytest.mark.parametrize("country", sorted(CASES))
def test_whole_flow(page: Page, peers: dict[str, MockPeer], fhir_admin: httpx.Client, country: str) -> None:
    sample_name, _, _, birth, gender = CASES[country]
    sample = SAMPLES / sample_name
    root = etree.parse(str(sample)).getroot()
    ext = root.find("v:recordTarget/v:patientRole/v:id", V3).get("extension")
    family = root.find("v:recordTarget/v:patientRole/v:patient/v:name/v:family", V3).text.strip()
    enter(page)
    search(page, country, ext, birth, gender)
    expect(page.get_by_role("heading", name="Vérification de l'identité et consentement")).to_be_visible()
    demo = page.locator("#demographie")
    expect(demo).to_contain_text(family.upper())
    expect(demo).to_contain_text(ext)
    # the notice, FR and EN, as PDF
    for lang in ("fr", "en"):
        href = page.locator(f'a[href="/transfrontalier/notice/{lang}.pdf"]')
        expect(href).to_be_visible()
        body = page.request.get(f"/transfrontalier/notice/{lang}.pdf")
        assert body.headers["content-type"] == "application/pdf" and body.body().startswith(b"%PDF")
    expect(page.get_by_role("link", name=re.compile("Formulaire de consentement"))).to_be_visible()
    consult = page.get_by_role("button", name="Consulter la synthèse médicale")
    expect(consult).to_be_disabled()
    page.locator("#besoin").check()
    expect(consult).to_be_disabled()
    page.locator("#consentement").check()
    expect(consult).to_be_enabled()
    consult.click()
    expect(page.get_by_role("heading", name=re.compile("Synthèse médicale du patient"))).to_be_visible(
        timeout=90_000
    )
    shot(page, f"crossborder-synthese-{country}")

    # administrative and document information
    expect(page.locator("#administratif")).to_contain_text(family.upper())
    doc = page.locator("#document")
    expect(doc).to_contain_text("Nature")
    lang = root.find("v:languageCode", V3).get("code")
    expect(doc).to_contain_text(lang)
    expect(page.get_by_role("link", name="Nouvelle recherche")).to_be_visible()
    codes, clinical, narrative = expected(sample)
    for loinc in codes:
        section = page.locator(f'section.xb-section[data-loinc="{loinc}"]').first
        expect(section).to_be_visible()
        if loinc in FRENCH_TITLES:
            expect(section.locator(".xb-title").first).to_have_text(FRENCH_TITLES[loinc])
        if loinc in narrative:
            original = section.locator("details.xb-original").first
            expect(original.locator("summary")).to_contain_text("Texte original")
            assert original.locator(".xb-original-text").inner_text().strip()
    # every clinical code of the CDA's entries is on screen, marked "non traduit" exactly when
    # the terminology service has no French designation for it
    shown = page.locator("li.xb-code")
    on_screen: dict[tuple[str, str], bool] = {}
    for i in range(shown.count()):
        item = shown.nth(i)
        key = (item.get_attribute("data-system") or "", item.get_attribute("data-code") or "")
        marked = "non-traduit" in (item.get_attribute("class") or "")
        assert marked == ("non traduit" in item.inner_text()), key
        on_screen[key] = on_screen.get(key, False) or marked
    # (codes the translation itself drops, e.g. some reaction severities, are cda_transform's
    # business: only those the document Bundle carries must be on screen)
    kept = json.dumps(to_fhir(sample.read_bytes()).bundle)
    for key, has_french in clinical.items():
        if f'"code": "{key[1]}"' not in kept:
            continue
        assert key in on_screen, f"code {key} of the CDA not shown"
        assert on_screen[key] is (not has_french), f"{key}: French designation {has_french}"
    # the original file
    link = page.get_by_role("link", name=re.compile("Document original")).first
    original = page.request.get(link.get_attribute("href"))
    assert original.ok and original.body()[:200].lstrip().startswith(
        (b"<?xml", b"<ClinicalDocument", b"%PDF")
    )
    # the gateway recorded the consent
    consents = fhir_admin.get("Consent", params={"_sort": "-_lastUpdated", "_count": 50}).json()
    policies = [p.get("uri", "") for e in consents.get("entry", []) for p in e["resource"].get("policy", [])]
    assert any("patient-information-notice" in p for p in policies)
    # print: the print stylesheet hides the navigation
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Imprimer / exporter en PDF")).to_be_hidden()
    page.emulate_media(media="screen")


def test_consent_boxes_unchecked_are_refused(page: Page, peers: dict[str, MockPeer]) -> None:
    enter(page)
    search(page, "MT", "9999002M")
    consult = page.get_by_role("button", name="Consulter la synthèse médicale")
    expect(consult).to_be_disabled()
    page.locator("#besoin").check()
    consult.evaluate("b => b.disabled = false")  # a forged submission: the server refuses it
    consult.click()
    expect(page.get_by_text("Confirmez que le patient a consenti").first).to_be_visible()
    expect(page.locator("#besoin")).to_be_checked()
    expect(page.get_by_role("heading", name=re.compile("Synthèse médicale du patient"))).to_have_count(0)


def test_another_session_cannot_open_a_flow(page: Page, peers: dict[str, MockPeer], logged_in) -> None:
    enter(page)
    search(page, "MT", "9999002M")
    expect(page.locator("#demographie")).to_be_visible()
    url = page.url
    other = logged_in(DR_MARTIN)
    other.goto("/transfrontalier")
    other.get_by_label(re.compile("j'accepte les conditions générales")).check()
    other.get_by_role("button", name="Se connecter avec Pro Santé Connect").click()
    other.goto(url)
    expect(other.get_by_text("Cette recherche a expiré ou n'est pas la vôtre")).to_be_visible()


# --- each gateway error -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "ident", "title", "next_step"),
    [
        ("HR", "NOMATCH", "Patient introuvable", "Vérifiez l'identifiant et la date de naissance"),
        ("HR", "MULTI", "Plusieurs patients correspondent", "Complétez la recherche"),
        ("HR", "NIERROR", "Échange impossible", "Réessayez dans quelques minutes"),
        ("HR", "SLOW", "Délai de réponse dépassé", "relancez la recherche dans quelques minutes"),
        ("LU", "1234567890123", "Pays injoignable", "contactez l'assistance du service"),
    ],
)
def test_gateway_errors(
    page: Page, peers: dict[str, MockPeer], country: str, ident: str, title: str, next_step: str
) -> None:
    enter(page)
    search(page, country, ident, domain=SCENARIO_DOMAIN if country == "HR" else "")
    failure = page.locator("section.failure")
    expect(failure.get_by_role("heading", name=title)).to_be_visible(timeout=60_000)
    expect(failure).to_contain_text(next_step)
    expect(failure.get_by_role("link", name="Nouvelle recherche")).to_be_visible()
    expect(page.locator("#identifiant")).to_have_value(ident)
    shot(page, f"crossborder-erreur-{ident.lower()}")


def test_no_summary(page: Page, peers: dict[str, MockPeer]) -> None:
    enter(page)
    search(page, "HR", "NOPS", domain=SCENARIO_DOMAIN)
    page.locator("#besoin").check()
    page.locator("#consentement").check()
    page.get_by_role("button", name="Consulter la synthèse médicale").click()
    failure = page.locator("section.failure")
    expect(failure.get_by_role("heading", name="Aucune synthèse médicale")).to_be_visible(timeout=60_000)
    expect(failure).to_contain_text("recueillez ses antécédents directement auprès de lui")


def test_pdf_only_summary(page: Page, peers: dict[str, MockPeer]) -> None:
    enter(page)
    search(page, "HR", "L1ONLY", domain=SCENARIO_DOMAIN)
    page.locator("#besoin").check()
    page.locator("#consentement").check()
    page.get_by_role("button", name="Consulter la synthèse médicale").click()
    expect(page.get_by_text("Synthèse reçue au format PDF uniquement")).to_be_visible(timeout=90_000)
    link = page.get_by_role("link", name="Document original (PDF)")
    expect(link).to_be_visible()
    pdf = page.request.get(link.get_attribute("href"))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    shot(page, "crossborder-synthese-l1")
