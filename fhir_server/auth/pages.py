"""The few HTML pages of the login flow (French, no JavaScript needed)."""

from __future__ import annotations

import html


def _page(title: str, body: str, status_note: str = "") -> str:
    return (
        f'<!doctype html><html lang="fr"><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<body><h1>{html.escape(title)}</h1>{status_note}{body}</body></html>"
    )


def _error(text: str | None) -> str:
    return f'<p role="alert" class="erreur">{html.escape(text)}</p>' if text else ""


def login(session: str, client_name: str, error: str | None = None, psc: bool = True) -> str:
    s = html.escape(session)
    pro = (
        f'<section><h2>Professionnel de santé</h2><p><a href="/auth/login/psc?session={s}">'
        "Se connecter avec Pro Santé Connect (e-CPS)</a></p></section>"
        if psc
        else ""
    )
    patient = (
        "<section><h2>Patient, ou professionnel sans carte e-CPS</h2>"
        '<form method="post" action="/auth/login/patient">'
        f'<input type="hidden" name="session" value="{s}">'
        '<label>Adresse e-mail <input type="email" name="email" required></label> '
        '<label>Mot de passe <input type="password" name="password" required></label> '
        "<button>Continuer</button></form>"
        '<p>Médecin sans carte e-CPS ? <a href="/inscription/professionnel">Créer un compte '
        "professionnel</a> (accès limité : pas de service transfrontalier).</p></section>"
    )
    return _page(
        "Connexion à Passerelle",
        f"<p>L'application « {html.escape(client_name)} » demande l'accès à vos données de santé.</p>"
        + pro
        + patient,
        _error(error),
    )


def otp(session: str, error: str | None = None) -> str:
    s = html.escape(session)
    return _page(
        "Code de vérification",
        "<p>Un code à 6 chiffres vient de vous être envoyé par SMS.</p>"
        '<form method="post" action="/auth/login/otp">'
        f'<input type="hidden" name="session" value="{s}">'
        '<label>Code reçu par SMS <input name="code" inputmode="numeric" autocomplete="one-time-code" '
        'pattern="[0-9]{6}" required></label> <button>Valider</button></form>',
        _error(error),
    )


def message(title: str, text: str) -> str:
    return _page(title, f"<p>{html.escape(text)}</p>")


def refused(reason: str, faq: tuple[str, ...]) -> str:
    """A professional the eligibility rules refuse: the reason, and the service FAQ's reasons."""
    items = "".join(f"<li>{html.escape(r)}</li>" for r in faq)
    return _page(
        "Accès refusé",
        f'<p role="alert">{html.escape(reason)}</p><h2>Pourquoi mon accès est-il refusé ? (FAQ)</h2>'
        f"<p>L'accès est refusé lorsque :</p><ul>{items}</ul>",
    )


def reset_form(token: str) -> str:
    t = html.escape(token)
    return _page(
        "Nouveau mot de passe",
        '<form method="post" action="/auth/patients/reset">'
        f'<input type="hidden" name="token" value="{t}">'
        "<label>Nouveau mot de passe (10 caractères au moins) "
        '<input type="password" name="password" minlength="10" required></label> '
        "<button>Enregistrer</button></form>",
    )


_LETTERS = {"c": "créer", "r": "lire", "u": "modifier", "d": "supprimer", "s": "rechercher"}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_OTHER = {
    "openid": "connaître votre identité",
    "fhirUser": "connaître votre identité",
    "profile": "connaître votre nom",
    "launch": "recevoir le contexte de lancement (patient, rencontre)",
    "launch/patient": "connaître le patient concerné",
    "launch/encounter": "connaître la rencontre (consultation) concernée",
    "offline_access": "garder l'accès après votre déconnexion",
    "online_access": "garder l'accès tant que vous êtes connecté",
}


def describe_scope(item: str) -> str:
    """A scope in words (French), for the consent page."""
    if item in _OTHER:
        return _OTHER[item]
    context, _, rest = item.partition("/")
    type_, _, perms = rest.partition(".")
    perms = _V1.get(perms.split("?")[0], perms.split("?")[0])
    verbs = ", ".join(_LETTERS[c] for c in perms if c in _LETTERS)
    what = "toutes les données" if type_ == "*" else f"les ressources {type_}"
    whose = {
        "patient": "du dossier patient concerné",
        "user": "auxquelles vous avez accès",
        "system": "du serveur",
    }.get(context, "")
    return f"{verbs} : {what} {whose}".strip()


def consent(session: str, client_name: str, scope: str, user_name: str) -> str:
    s = html.escape(session)
    items = list(dict.fromkeys(describe_scope(i) for i in scope.split() if i))
    lines = "".join(f"<li>{html.escape(i)}</li>" for i in items)
    who = f" ({html.escape(user_name)})" if user_name else ""
    return _page(
        "Autoriser l'application ?",
        f"<p>Vous êtes connecté{who}. L'application « {html.escape(client_name)} » demande à :</p>"
        f"<ul>{lines}</ul>"
        '<form method="post" action="/auth/consent">'
        f'<input type="hidden" name="session" value="{s}">'
        '<button name="decision" value="autoriser">Autoriser</button> '
        '<button name="decision" value="refuser">Refuser</button></form>',
    )


def patient_picker(session: str, error: str | None = None) -> str:
    s = html.escape(session)
    return _page(
        "Choix du patient",
        "<p>L'application demande le contexte d'un patient : indiquez son identifiant.</p>"
        '<form method="post" action="/auth/patient-picker">'
        f'<input type="hidden" name="session" value="{s}">'
        '<label>Identifiant du patient (Patient/…) <input name="patient" required></label> '
        "<button>Continuer</button></form>",
        _error(error),
    )


# -- professionals without e-CPS: confirmation link and mobile check ------------------------------

SIGNUP_URL = "/inscription/professionnel"


def pro_confirm(token: str) -> str:
    t = html.escape(token)
    return _page(
        "Confirmer votre adresse e-mail",
        "<p>Confirmez votre adresse pour poursuivre votre inscription : un code de vérification "
        "sera ensuite envoyé par SMS à votre mobile.</p>"
        '<form method="post" action="/auth/professionals/confirm">'
        f'<input type="hidden" name="token" value="{t}">'
        "<button>Confirmer mon adresse</button></form>",
    )


def pro_link_invalid() -> str:
    return _page(
        "Lien invalide",
        '<p role="alert">Ce lien de confirmation est invalide, expiré ou déjà utilisé.</p>'
        f'<p><a href="{SIGNUP_URL}/renvoyer">Renvoyer le lien de confirmation</a></p>',
    )


def _masked(phone: str) -> str:
    return ("•" * max(len(phone) - 2, 0)) + phone[-2:] if phone else "votre mobile"


def pro_phone(ticket: str, phone: str, error: str | None = None, info: str | None = None) -> str:
    t = html.escape(ticket)
    note = _error(error) + (f'<p role="status">{html.escape(info)}</p>' if info else "")
    return _page(
        "Vérification de votre mobile",
        "<p>Adresse e-mail confirmée. Un code à 6 chiffres vient d'être envoyé par SMS au "
        f"{html.escape(_masked(phone))}.</p>"
        '<form method="post" action="/auth/professionals/phone">'
        f'<input type="hidden" name="ticket" value="{t}">'
        '<label>Code reçu par SMS <input name="code" inputmode="numeric" autocomplete="one-time-code" '
        'pattern="[0-9]{6}" required></label> <button>Valider</button></form>'
        '<form method="post" action="/auth/professionals/phone/resend">'
        f'<input type="hidden" name="ticket" value="{t}">'
        "<button>Renvoyer un code</button></form>",
        note,
    )


def pro_code_expired(ticket: str, why: str = "Code expiré ou déjà utilisé.") -> str:
    t = html.escape(ticket)
    again = (
        '<form method="post" action="/auth/professionals/phone/resend">'
        f'<input type="hidden" name="ticket" value="{t}"><button>Renvoyer un code</button></form>'
        if ticket
        else ""
    )
    return _page("Code non valable", f'<p role="alert">{html.escape(why)}</p>{again}')


def pro_done(given: str, family: str) -> str:
    return _page(
        "Inscription terminée",
        f"<p>Bienvenue, Dr {html.escape(given)} {html.escape(family.upper())}. Votre compte est "
        "activé : connectez-vous avec votre adresse e-mail, votre mot de passe et un code reçu par "
        "SMS.</p><p>Ce compte sans carte e-CPS a un niveau d'authentification inférieur à Pro Santé "
        "Connect : le service transfrontalier (dossiers patients européens) lui reste fermé.</p>"
        '<p><a href="/connexion">Se connecter</a></p>',
    )
