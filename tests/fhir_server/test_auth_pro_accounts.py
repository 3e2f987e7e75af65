"""Professionals without e-CPS, black-box over HTTP: sign-up (RPPS key and uniqueness, single-use
e-mail link with resend, SMS code), login with password + SMS code, the lower assurance level in
the tokens and the AuditEvents, and the attacks on each single-use secret.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bench.harness import ServerProcess
from fhir_server.auth.pro_accounts import TERMS_VERSION, SignupError, validate
from fhir_server.identifiers import luhn_check_digit
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    Mailbox,
    approve,
    backend_client_token,
    bearer,
    exchange,
    patient_password_step,
    pkce,
    professional_token,
    redirect_query,
    register_client,
    root,
    session_of,
    sms_codes,
)

SCOPE = "openid fhirUser user/*.cruds"
DR_GARNIER = "899700008081"  # a GP of the dev PSC provider, no patient in common with Dr Martin
PASSWORD = "un mot de passe sûr"


server, mailbox, http = auth_support.server, auth_support.mailbox, auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def app(server: ServerProcess) -> dict[str, Any]:
    return register_client(server, "confidential", SCOPE + " offline_access", name="Portail")


@pytest.fixture(scope="module")
def admin(http: httpx.Client, server: ServerProcess) -> dict[str, str]:
    return bearer(backend_client_token(http, server, "system/*.rs system/AuditEvent.rs", name="lecteur"))


_counter = iter(range(10_000))


def fresh_rpps() -> str:
    """A test RPPS (997… prefix, valid Luhn key) used by no one else in this run."""
    body = f"997{uuid.uuid4().int % 10**5:05d}{next(_counter) % 100:02d}"
    return body + luhn_check_digit(body)


def fresh_mobile() -> str:
    return f"+336{uuid.uuid4().int % 10**8:08d}"


def form(**over: str) -> dict[str, str]:
    data = {
        "email": f"dr-{uuid.uuid4().hex[:10]}@exemple.fr",
        "password": PASSWORD,
        "profession": "10",
        "rpps": fresh_rpps(),
        "given": "Camille",
        "family": "Lefort",
        "phone": fresh_mobile(),
        "terms": TERMS_VERSION,
    }
    return data | over


def token_link(msg: Any) -> str:
    return Mailbox.link(msg)


def confirm(http: httpx.Client, server: ServerProcess, link: str) -> httpx.Response:
    token = re.search(r"token=([^&\s]+)", link).group(1)  # type: ignore[union-attr]
    page = http.get(link)
    assert page.status_code == 200 and 'action="/auth/professionals/confirm"' in page.text
    return http.post(f"{root(server)}/auth/professionals/confirm", data={"token": _unquote(token)})


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


def ticket_of(page: str) -> str:
    m = re.search(r'name="ticket" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def sign_up(http: httpx.Client, server: ServerProcess, mailbox: Mailbox, **over: str) -> dict[str, Any]:
    """The whole sign-up: form, e-mail link, SMS code. Returns the form data and the Practitioner id."""
    data = form(**over)
    resp = http.post(f"{root(server)}/auth/professionals", json=data)
    assert resp.status_code == 201, resp.text
    page = confirm(http, server, token_link(mailbox.wait_for(data["email"], "Confirmez")))
    assert page.status_code == 200, page.text
    code = sms_codes(server, data["phone"])[-1]
    done = http.post(
        f"{root(server)}/auth/professionals/phone", data={"ticket": ticket_of(page.text), "code": code}
    )
    assert done.status_code == 200 and "Inscription terminée" in done.text, done.text
    return data


def login(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any], data: dict[str, str]
) -> dict[str, Any]:
    verifier, challenge = pkce()
    step = patient_password_step(
        http, server, app["client_id"], SCOPE, data["email"], data["password"], challenge
    )
    assert step.status_code == 200, step.text
    code = sms_codes(server, data["phone"])[-1]
    resp = approve(
        http,
        server,
        http.post(f"{root(server)}/auth/login/otp", data={"session": session_of(step.text), "code": code}),
    )
    token = exchange(http, server, app, redirect_query(resp)["code"], verifier)
    assert token.status_code == 200, token.text
    return token.json()


def password_step(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any], data: dict[str, str], challenge: str
) -> httpx.Response:
    return patient_password_step(
        http, server, app["client_id"], SCOPE, data["email"], data["password"], challenge
    )


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assurance_of(event: dict[str, Any]) -> str | None:
    for ext in event["agent"][0].get("extension", []):
        if ext["url"].endswith("/auth-assurance"):
            return str(ext["valueCoding"]["code"])
    return None


# -- the RPPS key --------------------------------------------------------------------------


@pytest.mark.parametrize("rpps", ["10000005479", "10100534436", "99700366240"])
def test_ans_sample_rpps_numbers_pass_the_luhn_key(rpps: str) -> None:
    # samples from the ANS (docs/france.md §2): real and test RPPS numbers, all Luhn-valid
    assert validate(form(rpps=rpps))["rpps"] == rpps


@pytest.mark.parametrize(
    ("rpps", "text"),
    [
        ("10001234567", "clé de contrôle"),  # a placeholder that fails the key (france.md)
        ("99700366241", "clé de contrôle"),  # a real test number with its last digit changed
        ("9970036624", "11 chiffres"),
        ("9970036624A", "11 chiffres"),
    ],
)
def test_a_bad_rpps_is_refused_on_its_field(rpps: str, text: str) -> None:
    with pytest.raises(SignupError) as caught:
        validate(form(rpps=rpps))
    assert caught.value.field == "rpps" and text in str(caught.value)


def test_signup_api_refuses_bad_key_other_professions_and_missing_terms(
    http: httpx.Client, server: ServerProcess
) -> None:
    url = f"{root(server)}/auth/professionals"
    bad = http.post(url, json=form(rpps="10001234567"))
    assert bad.status_code == 400 and bad.json()["field"] == "rpps"
    assert "clé" in bad.json()["error_description"]
    nurse = http.post(url, json=form(profession="60"))
    assert nurse.status_code == 400 and nurse.json()["field"] == "profession"
    assert "médecins" in nurse.json()["error_description"]
    unknown = http.post(url, json=form(profession="99"))
    assert unknown.status_code == 400 and unknown.json()["field"] == "profession"
    no_terms = http.post(url, json=form(terms=""))
    assert no_terms.status_code == 400 and no_terms.json()["field"] == "terms"
    landline = http.post(url, json=form(phone="0145678901"))
    assert landline.status_code == 400 and landline.json()["field"] == "phone"


# -- the whole journey and the lower assurance level -------------------------------------------


def test_signup_then_login_gives_a_lower_assurance_practitioner_token(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any], admin: dict[str, str]
) -> None:
    data = sign_up(http, server, mailbox)
    token = login(http, server, app, data)
    access = claims(token["access_token"])
    # the lower level: password + SMS code, never PSC's eidas1
    assert access["acr"] == "2fa" and access["acr"] not in ("eidas1", "eidas2", "eidas3")
    assert access["kind"] == "practitioner" and access["fhirUser"].startswith("Practitioner/")
    assert claims(token["id_token"])["acr"] == "2fa"
    pid = access["fhirUser"].split("/")[1]
    # the Practitioner was written through the FHIR layer: RPPS, name, profession, tag
    me = http.get(f"{root(server)}/fhir/Practitioner/{pid}", headers=bearer(token))
    assert me.status_code == 200, me.text
    body = me.json()
    rpps = body["identifier"][0]
    assert (rpps["system"], rpps["value"]) == ("https://rpps.esante.gouv.fr", data["rpps"])
    assert body["name"][0]["family"] == "Lefort"
    assert body["meta"]["tag"][0]["code"] == "sans-e-cps"
    # the AuditEvents of the login and of that read carry the lower level
    events = http.get(
        f"{root(server)}/fhir/AuditEvent",
        params={"agent": f"Practitioner/{pid}", "_count": "200"},
        headers=admin,
    ).json()
    found = [e["resource"] for e in events.get("entry", [])]
    logins = [e for e in found if e["type"]["code"] == "110114" and e["outcome"] == "0"]
    reads = [e for e in found if e["type"]["code"] == "rest" and e["subtype"][0]["code"] == "read"]
    assert logins and all(assurance_of(e) == "2fa" for e in logins), [
        (e["type"], e.get("outcomeDesc"), e["agent"]) for e in found
    ]
    assert reads and all(assurance_of(e) == "2fa" for e in reads)
    signup = [e for e in found if "Inscription terminée" in e.get("outcomeDesc", "")]
    assert len(signup) == 1


def test_a_psc_login_is_audited_at_its_own_level(
    http: httpx.Client, server: ServerProcess, app: dict[str, Any], admin: dict[str, str]
) -> None:
    token = professional_token(http, server, app, SCOPE, DR_MARTIN)
    assert claims(token["access_token"])["acr"] == "eidas1"
    me = claims(token["access_token"])["fhirUser"]
    http.get(f"{root(server)}/fhir/{me}", headers=bearer(token))
    events = http.get(
        f"{root(server)}/fhir/AuditEvent", params={"agent": me, "_count": "200"}, headers=admin
    ).json()
    levels = {assurance_of(e["resource"]) for e in events["entry"] if e["resource"]["outcome"] == "0"}
    assert "eidas1" in levels and "2fa" not in levels


# -- single-use secrets and refusals ------------------------------------------------------------


def test_the_confirmation_link_works_once_and_a_resend_voids_the_old_one(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    data = form()
    assert http.post(f"{root(server)}/auth/professionals", json=data).status_code == 201
    first = token_link(mailbox.wait_for(data["email"], "Confirmez"))
    again = http.post(f"{root(server)}/auth/professionals/confirm/resend", json={"email": data["email"]})
    assert again.status_code == 202
    mails = [m for m in mailbox.messages if m["To"] == data["email"]]
    assert len(mails) == 2
    second = token_link(mails[-1])
    assert second != first
    assert confirm(http, server, first).status_code == 400  # voided by the resend
    ok = confirm(http, server, second)
    assert ok.status_code == 200 and "Code reçu par SMS" in ok.text
    reused = confirm(http, server, second)
    assert reused.status_code == 400 and "déjà utilisé" in reused.text
    # resend for an unknown or confirmed address: the same answer, no e-mail
    for email in ("personne@exemple.fr", data["email"]):
        same = http.post(f"{root(server)}/auth/professionals/confirm/resend", json={"email": email})
        assert same.status_code == 202 and same.json() == again.json()
    assert len([m for m in mailbox.messages if m["To"] == data["email"]]) == 2


def test_parallel_uses_of_one_confirmation_link_confirm_once(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    data = form()
    assert http.post(f"{root(server)}/auth/professionals", json=data).status_code == 201
    link = token_link(mailbox.wait_for(data["email"], "Confirmez"))
    token = _unquote(re.search(r"token=([^&\s]+)", link).group(1))  # type: ignore[union-attr]

    def use(_: int) -> int:
        with httpx.Client(timeout=30) as c:
            return c.post(f"{root(server)}/auth/professionals/confirm", data={"token": token}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(use, range(8)))
    assert statuses.count(200) == 1 and statuses.count(400) == 7
    assert len(sms_codes(server, data["phone"])) == 1  # one code sent, by the winner


def test_login_is_refused_before_confirmation_and_before_the_sms_check(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]
) -> None:
    data = form()
    assert http.post(f"{root(server)}/auth/professionals", json=data).status_code == 201
    _, challenge = pkce()
    step = patient_password_step(
        http, server, app["client_id"], SCOPE, data["email"], data["password"], challenge
    )
    assert step.status_code == 401 and "non confirmée" in step.text
    assert sms_codes(server, data["phone"]) == []  # no code sent to an unconfirmed account
    page = confirm(http, server, token_link(mailbox.wait_for(data["email"], "Confirmez")))
    assert page.status_code == 200
    step = patient_password_step(
        http, server, app["client_id"], SCOPE, data["email"], data["password"], challenge
    )
    assert step.status_code == 401 and "Inscription non terminée" in step.text
    assert len(sms_codes(server, data["phone"])) == 1  # only the sign-up's code


def test_a_replayed_sms_code_activates_once(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, admin: dict[str, str]
) -> None:
    data = form()
    assert http.post(f"{root(server)}/auth/professionals", json=data).status_code == 201
    page = confirm(http, server, token_link(mailbox.wait_for(data["email"], "Confirmez")))
    ticket, code = ticket_of(page.text), sms_codes(server, data["phone"])[-1]

    def submit(_: int) -> int:
        with httpx.Client(timeout=30) as c:
            return c.post(
                f"{root(server)}/auth/professionals/phone", data={"ticket": ticket, "code": code}
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(submit, range(8)))
    assert statuses.count(200) == 1, statuses
    assert all(s in (400, 401) for s in statuses if s != 200)
    # exactly one Practitioner for that RPPS
    found = http.get(
        f"{root(server)}/fhir/Practitioner",
        params={"identifier": f"https://rpps.esante.gouv.fr|{data['rpps']}"},
        headers=admin,
    ).json()
    assert len(found.get("entry", [])) == 1


def test_a_wrong_sms_code_three_times_voids_the_code(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox
) -> None:
    data = form()
    assert http.post(f"{root(server)}/auth/professionals", json=data).status_code == 201
    page = confirm(http, server, token_link(mailbox.wait_for(data["email"], "Confirmez")))
    ticket, code = ticket_of(page.text), sms_codes(server, data["phone"])[-1]
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    url = f"{root(server)}/auth/professionals/phone"
    first = http.post(url, data={"ticket": ticket, "code": wrong})
    assert first.status_code == 401 and "Code erroné" in first.text
    http.post(url, data={"ticket": ticket, "code": wrong})
    third = http.post(url, data={"ticket": ticket, "code": wrong})
    assert third.status_code == 401 and "Trop d&#x27;essais" in third.text
    assert http.post(url, data={"ticket": ticket, "code": code}).status_code == 400  # the right one, too late
    # a new code may be asked for with the same ticket; it works
    resent = http.post(f"{root(server)}/auth/professionals/phone/resend", data={"ticket": ticket})
    assert resent.status_code == 200
    new = sms_codes(server, data["phone"])[-1]
    assert http.post(url, data={"ticket": ticket, "code": new}).status_code == 200


def test_an_rpps_already_taken_is_refused(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]
) -> None:
    url = f"{root(server)}/auth/professionals"
    # a PSC practitioner's RPPS (Dr Martin logs in once: her Practitioner and mapping exist)
    professional_token(http, server, app, SCOPE, DR_MARTIN)
    taken = http.post(url, json=form(rpps=DR_MARTIN[1:]))
    assert taken.status_code == 409 and taken.json()["field"] == "rpps"
    assert "Pro Santé Connect" in taken.json()["error_description"]
    # another account's RPPS, even not confirmed yet
    first = form()
    assert http.post(url, json=first).status_code == 201
    second = http.post(url, json=form(rpps=first["rpps"]))
    assert second.status_code == 409 and second.json()["field"] == "rpps"
    # the same e-mail twice
    dup = http.post(url, json=form(email=first["email"]))
    assert dup.status_code == 409 and dup.json()["field"] == "email"


def test_parallel_signups_with_one_rpps_create_one_account(http: httpx.Client, server: ServerProcess) -> None:
    rpps = fresh_rpps()

    def attempt(_: int) -> int:
        with httpx.Client(timeout=30) as c:
            return c.post(f"{root(server)}/auth/professionals", json=form(rpps=rpps)).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(attempt, range(6)))
    assert statuses.count(201) == 1 and statuses.count(409) == 5, statuses


# -- the account history: a professional reads the AuditEvents where they are the agent --------


def test_a_practitioner_reads_only_the_audit_events_where_they_are_the_agent(
    http: httpx.Client, server: ServerProcess, admin: dict[str, str]
) -> None:
    scope = "openid fhirUser user/*.cruds user/AuditEvent.rs"
    portal_like = register_client(server, "confidential", scope, name="Portail (audit)")
    mine = professional_token(http, server, portal_like, scope, DR_MARTIN)
    other = professional_token(http, server, portal_like, scope, DR_GARNIER)
    me = claims(mine["access_token"])["fhirUser"]
    them = claims(other["access_token"])["fhirUser"]
    http.get(f"{root(server)}/fhir/{them}", headers=bearer(other))  # an event of theirs
    url = f"{root(server)}/fhir/AuditEvent"
    # every AuditEvent of the bundle names me as agent, whatever the query asks
    for params in ({"_count": "200"}, {"agent": them}, {"agent": f"{me},{them}"}, {"_count": "5"}):
        bundle = http.get(url, params=params, headers=bearer(mine))
        assert bundle.status_code == 200, bundle.text
        for entry in bundle.json().get("entry", []):
            assert me in {a["who"].get("reference") for a in entry["resource"]["agent"]}, params
    own = http.get(url, params={"agent": me, "_count": "200"}, headers=bearer(mine)).json()
    assert any(e["resource"]["type"]["code"] == "110114" for e in own["entry"])  # my own logins
    assert http.get(url, params={"agent": them}, headers=bearer(mine)).json().get("entry", []) == []
    # one of theirs by id: 404 as if it did not exist; break-the-glass does not open the trail
    theirs = http.get(url, params={"agent": them, "_count": "1"}, headers=admin).json()["entry"][0]
    event_id = theirs["resource"]["id"]
    assert http.get(f"{url}/{event_id}", headers=bearer(mine)).status_code == 404
    glass = {**bearer(mine), "X-Break-Glass-Reason": "urgence vitale patient inconscient"}
    assert http.get(f"{url}/{event_id}", headers=glass).status_code == 404
    wide = http.get(url, params={"_count": "200"}, headers=glass).json()
    assert all(
        me in {a["who"].get("reference") for a in e["resource"]["agent"]} for e in wide.get("entry", [])
    )
    # a token without the explicit AuditEvent scope gets none, and nobody writes one
    plain = professional_token(
        http, server, register_client(server, "confidential", SCOPE, name="sans audit"), SCOPE, DR_MARTIN
    )
    assert http.get(url, headers=bearer(plain)).status_code == 403
    event = {
        "resourceType": "AuditEvent",
        **{k: theirs["resource"][k] for k in ("type", "recorded", "agent", "source")},
    }
    assert (
        http.post(
            url, json=event, headers=bearer(mine) | {"Content-Type": "application/fhir+json"}
        ).status_code
        == 403
    )


def test_the_shared_lockout_applies_to_professional_accounts(
    http: httpx.Client, server: ServerProcess, mailbox: Mailbox, app: dict[str, Any]
) -> None:
    data = sign_up(http, server, mailbox)
    _, challenge = pkce()
    wrong = {**data, "password": "pas le bon mot de passe"}
    for _ in range(3):  # PASSERELLE_LOCKOUT_THRESHOLD=3 on the test server
        assert password_step(http, server, app, wrong, challenge).status_code == 401
    locked = password_step(http, server, app, data, challenge)  # even the right password now
    assert locked.status_code == 401 and "verrouillé" in locked.text
    codes = sms_codes(server, data["phone"])
    assert len(codes) == 1  # only the sign-up's: no login code sent while locked
