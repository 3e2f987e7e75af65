"""A small OIDC provider shaped like Pro Santé Connect, for development and tests (``/dev-psc``).

It emits exactly the claims PSC emits (``SubjectNameID`` = "8" + RPPS,
``SubjectRefPro.exercices[].activities[]``, ``acr=eidas1``) for configured test
professionals, with the same endpoints (discovery, authorize, token, userinfo, JWKS),
so that pointing ``PASSERELLE_PSC_DISCOVERY_URL`` at the real BAS is the only change
needed. Enabled with ``PASSERELLE_DEV_PSC=1``; never in production. The "login" is a
choice in a list, standing in for the e-CPS app.

State (codes, tokens) is kept in memory: one process, short-lived.
"""

from __future__ import annotations

import html
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fhir_server.auth.keys import ALG, public_jwks, signing_key
from fhir_server.auth.settings import AuthSettings
from fhir_server.identifiers import luhn_check_digit

PREFIX = "/dev-psc"
# Labels shown on the login page (TRE_G15 professions, TRE_R38 specialties, TRE_R23 modes).
PROFESSIONS = {
    "10": "Médecin", "21": "Pharmacien", "40": "Chirurgien-dentiste", "50": "Sage-femme",
    "60": "Infirmier", "70": "Masseur-kinésithérapeute", "86": "Technicien de laboratoire",
}  # fmt: skip
SPECIALTIES = {
    "SM26": "qualifié en médecine générale", "SM25": "médecine du travail", "SM04": "cardiologie",
    "SM15": "dermatologie", "SM40": "pédiatrie",
}  # fmt: skip
MODES = {"L": "libéral", "S": "salarié", "B": "bénévole"}


def _rpps(body: str) -> str:
    return body + luhn_check_digit(body)


def _activity(**kw: str) -> dict[str, str]:
    base = {
        "codeModeExercice": "L",
        "codeSecteurDactivite": "SA07",
        "codeSectionPharmacien": "",
        "codeRole": "",
        "codeGenreActivite": "GENR01",
        "numeroSiretSite": "",
        "numeroSirenSite": "",
        "numeroFinessSite": "",
        "numeroFinessetablissementJuridique": "",
        "identifiantTechniqueDeLaStructure": "R10000001",
        "raisonSocialeSite": "CABINET DU DOCTEUR",
        "codePostal": "75015",
        "codePays": "99000",
        "autoriteDenregistrement": "CNOM/CNOM/CNOM",
    }
    base.update(kw)
    return base


def _professional(
    rpps: str,
    given: str,
    family: str,
    profession: str,
    specialty: str,
    activities: list[dict[str, str]],
    civility: str = "DR",
    note: str = "",
) -> dict[str, Any]:
    idnat = "8" + rpps
    return {
        "_dev": {"note": note},
        "sub": f"f:{secrets.token_hex(8)}:{idnat}",
        "SubjectNameID": idnat,
        "preferred_username": idnat,
        "given_name": given,
        "family_name": family,
        "email": f"{given.lower()}.{family.lower()}@test.mssante.fr",
        "email_verified": True,
        "codeCivilite": "M",
        "otherIds": [{"identifiant": idnat, "origine": "RPPS", "qualite": 1}],
        "SubjectRole": [f"{profession}^1.2.250.1.213.1.1.5.5"],
        "SubjectRefPro": {
            "exercices": [
                {
                    "codeProfession": profession,
                    "codeCategorieProfessionnelle": "C",
                    "codeCiviliteDexercice": civility,
                    "nomDexercice": family,
                    "prenomDexercice": given,
                    "codeTypeSavoirFaire": "S" if specialty else "",
                    "codeSavoirFaire": specialty,
                    "activities": activities,
                }
            ]
        },
        "SubjectOrganization": activities[0]["raisonSocialeSite"] if activities else "",
        "Secteur_Activite": f"{activities[0]['codeSecteurDactivite']}^1.2.250.1.71.4.2.4"
        if activities
        else "",
        "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
        "Acces_Regulation_Medicale": "FAUX",
    }


def default_professionals() -> list[dict[str, Any]]:
    """Test professionals (RPPS in the 997… test range, valid Luhn keys), one per eligibility case."""
    return [
        _professional(
            "99700366240",
            "Marie",
            "Martin",
            "10",
            "SM26",
            [_activity(numeroFinessSite="750712184", raisonSocialeSite="CENTRE DE SANTE PARIS 15")],
            note="médecin traitant (démo : Hélène Dupont, Thomas Nguyen)",
        ),
        _professional(
            _rpps("9970000101"),
            "Paul",
            "Durand",
            "10",
            "SM25",
            [_activity(codeModeExercice="S", raisonSocialeSite="SERVICE DE SANTE AU TRAVAIL")],
            note="non éligible : médecine du travail",
        ),
        _professional(
            _rpps("9970000202"),
            "Claire",
            "Petit",
            "21",
            "",
            [_activity(raisonSocialeSite="PHARMACIE DU CENTRE", codeSectionPharmacien="A")],
            civility="M",
            note="pharmacien : vérifie et délivre une ordonnance par son numéro",
        ),
        _professional(
            _rpps("9970000303"), "Luc", "Bernard", "60", "", [], note="non éligible : aucune activité"
        ),
        _professional(
            _rpps("9970000404"),
            "Anne",
            "Leroy",
            "86",
            "",
            [_activity(raisonSocialeSite="LABORATOIRE")],
            civility="M",
            note="non éligible : profession hors périmètre",
        ),
        _professional(
            _rpps("9970000505"),
            "Jean",
            "Moreau",
            "10",
            "SM26",
            [_activity(codeSecteurDactivite="SA99", raisonSocialeSite="ASSUREUR PRIVE SA")],
            note="secteur d'activité SA99 (exclu par les règles de test)",
        ),
        # For the role tests (tests/fhir_server/roles_data.py): a colleague of Dr Martin in the same
        # health centre (FINESS 750712184), a GP with no patient of ours, two médecins conseils
        # (their échelon comes from a PractitionerRole the Assurance Maladie declares, see roles.py).
        _professional(
            _rpps("9970000707"),
            "Julie",
            "Bonnet",
            "10",
            "SM26",
            [_activity(numeroFinessSite="750712184", raisonSocialeSite="CENTRE DE SANTE PARIS 15")],
            note="médecin du même centre de santé (même FINESS) que le Dr Marie Martin",
        ),
        _professional(
            _rpps("9970000808"),
            "Henri",
            "Garnier",
            "10",
            "SM26",
            [_activity(identifiantTechniqueDeLaStructure="R10000002", raisonSocialeSite="CABINET GARNIER")],
            note="médecin généraliste sans patient en commun",
        ),
        _professional(
            _rpps("9970000909"),
            "Nadia",
            "Roux",
            "10",
            "SM26",
            [
                _activity(
                    codeModeExercice="S",
                    identifiantTechniqueDeLaStructure="R20000075",
                    raisonSocialeSite="ELSM PARIS",
                )
            ],
            note="médecin conseil, échelon ELSM Paris (démo : une demande d'avis)",
        ),
        _professional(
            _rpps("9970001010"),
            "Olivier",
            "Faure",
            "10",
            "SM26",
            [
                _activity(
                    codeModeExercice="S",
                    identifiantTechniqueDeLaStructure="R20000069",
                    raisonSocialeSite="ELSM LYON",
                )
            ],
            note="médecin conseil, échelon ELSM Lyon",
        ),
        _professional(
            _rpps("9970001111"),
            "Karim",
            "Benali",
            "10",
            "SM04",
            [
                _activity(
                    identifiantTechniqueDeLaStructure="R10000003",
                    raisonSocialeSite="CABINET DE CARDIOLOGIE",
                    codePostal="75011",
                )
            ],
            note="cardiologue (démo : consultation de Thomas Nguyen)",
        ),
        # Signs her ID token with HS256 (client secret) and answers userinfo as a signed JWT:
        # the two other forms PSC may use.
        {
            **_professional(
                _rpps("9970000606"),
                "Sophie",
                "Lambert",
                "50",
                "",
                [_activity(codeModeExercice="S", codeSecteurDactivite="SA01", raisonSocialeSite="MATERNITE")],
                civility="MME",
            ),
            "_dev": {
                "id_token_alg": "HS256",
                "userinfo": "jwt",
                "note": "sage-femme ; jeton signé HS256 et userinfo en JWT",
            },
        },
    ]


def _describe(pro: dict[str, Any]) -> str:
    """One professional for a page: name, idNat, profession, specialty, practice situations, note."""
    exercices = pro.get("SubjectRefPro", {}).get("exercices") or [{}]
    ex = exercices[0]
    title = PROFESSIONS.get(str(ex.get("codeProfession")), f"profession {ex.get('codeProfession')}")
    if ex.get("codeSavoirFaire"):
        title += ", " + SPECIALTIES.get(str(ex["codeSavoirFaire"]), str(ex["codeSavoirFaire"]))
    places = [
        " ".join(
            part
            for part in (
                str(a.get("raisonSocialeSite") or ""),
                f"(FINESS {a['numeroFinessSite']})" if a.get("numeroFinessSite") else "",
                MODES.get(str(a.get("codeModeExercice")), ""),
            )
            if part
        )
        for a in ex.get("activities") or []
    ]
    where = " ; ".join(places) if places else "aucune situation d'exercice"
    note = str(pro.get("_dev", {}).get("note") or "")
    return (
        f"<strong>{html.escape(pro['given_name'])} {html.escape(pro['family_name'])}</strong> "
        f"({html.escape(pro['SubjectNameID'])}) — {html.escape(title)} — {html.escape(where)}"
        + (f" — <em>{html.escape(note)}</em>" if note else "")
    )


def _page(body: str) -> str:
    return (
        '<!doctype html><html lang="fr"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Pro Santé Connect (développement)</title>"
        "<h1>Pro Santé Connect — fournisseur de développement</h1>"
        f"{body}</html>"
    )


class DevPsc:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.keys_file = settings.data_dir / "auth" / "dev-psc-jwks.json"
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        path = settings.dev_psc_users
        self.professionals = json.loads(Path(path).read_text()) if path else default_professionals()

    def by_idnat(self, idnat: str) -> dict[str, Any] | None:
        return next((p for p in self.professionals if p["SubjectNameID"] == idnat), None)

    def issuer(self, request: Request) -> str:
        """This provider's issuer, from configuration (``PASSERELLE_DEV_PSC_BASE``), never from the
        request's Host header; the address the server was reached at only when none is configured
        (such a provider is then unusable: ``psc.discovery_url`` refuses to log in through it)."""
        root = self.settings.dev_psc_root or f"{request.url.scheme}://{request.url.netloc}"
        return f"{root}{PREFIX}"

    # -- endpoints --------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        iss = self.issuer(request)
        return JSONResponse(
            {
                "issuer": iss,
                "authorization_endpoint": f"{iss}/auth",
                "token_endpoint": f"{iss}/token",
                "userinfo_endpoint": f"{iss}/userinfo",
                "jwks_uri": f"{iss}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALG],
                "acr_values_supported": ["eidas1"],
                "scopes_supported": ["openid", "scope_all"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(public_jwks(self.keys_file))

    def _check_authorize(self, params: dict[str, str]) -> str | None:
        if params.get("client_id") != self.settings.psc_client_id:
            return "client_id inconnu"
        if params.get("response_type") != "code" or "openid" not in params.get("scope", "").split():
            return "requête d'autorisation invalide (response_type=code et scope openid attendus)"
        if not params.get("redirect_uri") or not params.get("state") or not params.get("nonce"):
            return "redirect_uri, state et nonce sont obligatoires"
        if params.get("acr_values") != "eidas1":
            return "acr_values=eidas1 attendu"
        return None

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params = {k: str(v) for k, v in (await request.form()).items()}
        if request.method == "GET" and not params.get("client_id"):
            # opened by hand: explain where logins come from
            return RedirectResponse(PREFIX, status_code=303)
        error = self._check_authorize(params)
        if error:
            return HTMLResponse(
                _page(
                    f"<p>Requête refusée : {html.escape(error)}.</p>"
                    f'<p><a href="{PREFIX}">Comment se connecter avec ce fournisseur</a></p>'
                ),
                status_code=400,
            )
        if request.method == "GET":
            return HTMLResponse(self._login_page(params))
        if not params.get("idnat"):
            return HTMLResponse(self._login_page(params, "Choisissez un professionnel."), status_code=400)
        pro = self.by_idnat(params["idnat"])
        if pro is None:
            return HTMLResponse(
                self._login_page(params, "Professionnel inconnu : choisissez-en un dans la liste."),
                status_code=400,
            )
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "pro": pro,
            "client_id": params["client_id"],
            "redirect_uri": params["redirect_uri"],
            "nonce": params["nonce"],
            "challenge": params.get("code_challenge"),
            "at": time.time(),
        }
        query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=303)

    def _login_page(self, params: dict[str, str], error: str = "") -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
            if k != "idnat"
        )
        # nothing preselected: choosing someone is the login
        options = "".join(
            '<li><label><input type="radio" name="idnat" '
            f'value="{html.escape(p["SubjectNameID"])}" required> {_describe(p)}</label></li>'
            for p in self.professionals
        )
        cancel = html.escape(
            f"{params['redirect_uri']}?{urlencode({'error': 'access_denied', 'state': params['state']})}"
        )
        alert = f'<p role="alert"><strong>{html.escape(error)}</strong></p>' if error else ""
        return _page(
            "<p>Choisissez le professionnel de test (remplace l'application e-CPS). "
            f"<a href=\"{PREFIX}\">Qu'est-ce que c'est ?</a></p>"
            f'{alert}<form method="post"><ul class="pros">{options}</ul>{hidden}'
            "<button>Se connecter</button></form>"
            f'<p><a href="{cancel}">Annuler et revenir à l\'application</a></p>'
        )

    async def home(self, request: Request) -> Response:
        """``/dev-psc``: what this provider is, who can log in, and how to use it."""
        root = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        rows = "".join(f"<li>{_describe(p)}</li>" for p in self.professionals)
        return HTMLResponse(
            _page(
                "<p>Ce fournisseur imite Pro Santé Connect (PSC) pour le développement et les tests : "
                "mêmes points d'accès OpenID Connect, mêmes revendications (identifiant national, "
                "situations d'exercice, <code>acr=eidas1</code>). La « connexion » est un choix dans une "
                "liste, à la place de l'application e-CPS. Il n'est jamais actif en production "
                "(<code>PASSERELLE_DEV_PSC</code>).</p>"
                "<h2>Se connecter</h2>"
                "<p>On n'ouvre pas cette page directement pour se connecter : une application SMART "
                f"demande une autorisation à <code>{html.escape(root)}/auth/authorize</code>, Passerelle "
                "propose « Se connecter avec Pro Santé Connect » et renvoie ici pour choisir le "
                "professionnel.</p>"
                f"<h2>Professionnels de test</h2><ul>{rows}</ul>"
                "<h2>Pour les développeurs</h2><ul>"
                f'<li><a href="{PREFIX}/.well-known/openid-configuration">Configuration OpenID</a></li>'
                f'<li><a href="/.well-known/smart-configuration">Configuration SMART de Passerelle</a></li>'
                "<li>Enregistrer une application : <code>passerelle clients create --name … --type public "
                '--scope "openid fhirUser launch/patient patient/*.rs" --redirect-uri …</code></li></ul>'
            )
        )

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        cid, secret = extract_basic_authorization(request.headers)
        if not cid:
            cid, secret = form.get("client_id"), form.get("client_secret")
        return cid == self.settings.psc_client_id and secret == self.settings.psc_client_secret

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        entry = self.codes.pop(form.get("code", ""), None)
        if (
            entry is None
            or time.time() - entry["at"] > 120
            or entry["redirect_uri"] != form.get("redirect_uri")
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if (
            entry["challenge"]
            and create_s256_code_challenge(form.get("code_verifier", "")) != entry["challenge"]
        ):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
        pro = entry["pro"]
        now = int(time.time())
        key = signing_key(self.keys_file)
        claims = {
            "iss": self.issuer(request),
            "sub": pro["sub"],
            "aud": entry["client_id"],
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "nonce": entry["nonce"],
            "acr": "eidas1",
            "SubjectNameID": pro["SubjectNameID"],
            "preferred_username": pro["SubjectNameID"],
        }
        if pro.get("_dev", {}).get("id_token_alg") == "HS256":
            secret = OctKey.import_key(self.settings.psc_client_secret or "")
            id_token = jwt.encode({"alg": "HS256"}, claims, secret)
        else:
            id_token = jwt.encode({"alg": ALG, "kid": key.kid}, claims, key)
        access = secrets.token_urlsafe(24)
        self.tokens[access] = {"pro": pro, "exp": now + 300}
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
                "scope": "openid scope_all",
            }
        )

    async def userinfo(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        entry = self.tokens.get(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if entry is None or entry["exp"] < time.time():
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        info = {k: v for k, v in entry["pro"].items() if k != "_dev"}
        if entry["pro"].get("_dev", {}).get("userinfo") == "jwt":
            key = signing_key(self.keys_file)
            claims = {**info, "iss": self.issuer(request), "aud": self.settings.psc_client_id}
            signed = jwt.encode({"alg": ALG, "kid": key.kid}, claims, key)
            return Response(signed, media_type="application/jwt")
        return JSONResponse(info)

    def routes(self) -> list[Route]:
        return [
            Route(PREFIX, self.home),
            Route(f"{PREFIX}/", self.home),
            Route(f"{PREFIX}/.well-known/openid-configuration", self.discovery),
            Route(f"{PREFIX}/.well-known/wallet-openid-configuration", self.discovery),
            Route(f"{PREFIX}/jwks", self.jwks),
            Route(f"{PREFIX}/auth", self.authorize, methods=["GET", "POST"]),
            Route(f"{PREFIX}/token", self.token, methods=["POST"]),
            Route(f"{PREFIX}/userinfo", self.userinfo, methods=["GET", "POST"]),
        ]
