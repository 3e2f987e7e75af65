"""The eHDSI error vocabulary (OpenNCP ``OpenNCPErrorCode``) with French messages.

One exception type, :class:`EhdsiError`, travels through both roles: a responder turns it into
a SOAP fault or an in-message error (XCPD ``DetectedIssueEvent``, ebRS ``RegistryError``), the
initiating gateway raises it from what the peer answered, and the portal or the CLI shows its
French message.
"""

from __future__ import annotations

#: code -> (French message for the professional, English description of the code)
VOCABULARY: dict[str, tuple[str, str]] = {
    "ERROR_GENERIC": (
        "Erreur interne de la passerelle ; réessayer ou contacter l'administrateur.",
        "Internal Server Error",
    ),
    "ERROR_CONNECTION_NOT_POSSIBLE": (
        "Le point de contact national du pays du patient est injoignable.",
        "The Country of Treatment is unable to contact the Patient Country of Affiliation.",
    ),
    "ERROR_GENERIC_DOCUMENT_MISSING": ("Le document demandé est introuvable.", "The document was not found"),
    "ERROR_GENERIC_SERVICE_SIGNIFIER_UNKNOWN": (
        "Type de document non pris en charge par ce pays.",
        "Class code not supported",
    ),
    "ERROR_HPI_GENERIC": (
        "L'identification du professionnel de santé a échoué.",
        "Health Professional (HP) Identification generic error",
    ),
    "ERROR_HPI_NO_INFORMATION": (
        "Aucune information sur le professionnel de santé n'a été transmise.",
        "No information has been provided about the HP.",
    ),
    "ERROR_HPI_INSUFFICIENT_INFORMATION": (
        "Les informations sur le professionnel de santé sont insuffisantes.",
        "Information provided about the HP is insufficient",
    ),
    "ERROR_HPI_AUTHENTICATION_NOT_RECEIVED": (
        "L'authentification du professionnel de santé n'a pas été reçue.",
        "HP authentication method has not been received by the Country of Affiliation",
    ),
    "ERROR_PI_GENERIC": (
        "L'identification du patient a échoué.",
        "Patient Identification generic error",
    ),
    "ERROR_PI_NO_MATCH": (
        "Aucun patient ne correspond à ces traits d'identité dans le pays d'affiliation. "
        "Vérifier l'identifiant et la date de naissance.",
        "The identification used in the Country of Treatment does not match any existing patient.",
    ),
    "ERROR_PI_MULTIPLE_MATCHES": (
        "Plusieurs patients correspondent à ces traits d'identité ; préciser l'identité "
        "(date de naissance, sexe, nom).",
        "The identification used in the Country of Treatment matches multiple patients.",
    ),
    "ERROR_PS_GENERIC": ("La synthèse médicale n'a pas pu être obtenue.", "Patient Summary generic error"),
    "ERROR_PS_NOT_FOUND": (
        "Aucune synthèse médicale n'est disponible pour ce patient dans son pays d'affiliation.",
        "No PS is registered for the given patient.",
    ),
    "ERROR_PS_MISSING_BASIC_SECTIONS": (
        "La synthèse médicale reçue n'a pas les cinq sections obligatoires.",
        "Any or all of the 5 basic sections are missing.",
    ),
    "ERROR_PS_PDF_FORMAT_NOT_PROVIDED": (
        "La version PDF de la synthèse médicale n'a pas été fournie.",
        "A PDF has not been provided.",
    ),
    "ERROR_SEC_GENERIC": ("Erreur de sécurité lors de l'échange.", "SEC generic error"),
    "ERROR_SEC_DATA_INTEGRITY_NOT_ENSURED": (
        "L'intégrité de l'échange n'est pas garantie (assertion SAML refusée).",
        "Integrity of the exchanged data cannot be ensured (insufficient/invalidated SAML assertions)",
    ),
    "ERROR_NOT_VALID_ASSERTION": ("Assertion d'identité invalide.", "Assertion is not valid."),
    "ERROR_NOT_VALID_TRC_ASSERTION": (
        "L'assertion de relation de soins (TRC) ne correspond pas à l'assertion d'identité.",
        "The given TRC Assertion does not validate against the Identity Assertion",
    ),
    "ERROR_UNKNOWN_PATIENT_IDENTIFIER": (
        "Le patient demandé n'est pas celui de l'assertion de relation de soins.",
        "The patient identifier in the query differs from the patient identifier in the TRC assertion",
    ),
    "ERROR_NO_CONSENT": (
        "Le patient n'a pas donné son consentement à ce service.",
        "The patient has not given consent to the requested service.",
    ),
    "ERROR_INSUFFICIENT_RIGHTS": (
        "La politique de sécurité du pays d'affiliation n'autorise pas cette opération.",
        "The security policy of country A does not allow the requested operation by the HP",
    ),
    "ERROR_POLICY_VIOLATION": ("Violation de la politique de sécurité.", "Policy violation"),
    "ERROR_NI_GENERIC": (
        "L'infrastructure nationale du pays d'affiliation est en erreur ; réessayer plus tard.",
        "National infrastructure error",
    ),
    "ERROR_TIMEOUT": (
        "Le pays d'affiliation n'a pas répondu à temps ; réessayer plus tard.",
        "The Country of Affiliation did not answer in time.",
    ),
    "ERROR_INVALID_MESSAGE": (
        "Message SOAP invalide.",
        "Malformed or invalid message",
    ),
    "ERROR_UNKNOWN_PEER": (
        "Pays inconnu du registre des pairs de la passerelle.",
        "The peer country is not registered.",
    ),
    "ERROR_INVALID_TRAITS": (
        "Traits d'identité non conformes au masque de recherche du pays.",
        "Identity traits do not satisfy the country's search mask.",
    ),
}

#: OpenNCP's numeric codes for the old MyHealth@EU errors, as they travel in ``@errorCode``
NUMERIC = {
    "1001": "ERROR_NOT_VALID_ASSERTION",
    "1002": "ERROR_NOT_VALID_TRC_ASSERTION",
    "1102": "ERROR_PS_NOT_FOUND",
    "4206": "ERROR_UNKNOWN_PATIENT_IDENTIFIER",
    "4701": "ERROR_NO_CONSENT",
    "4703": "ERROR_INSUFFICIENT_RIGHTS",
    "4705": "ERROR_POLICY_VIOLATION",
}


class EhdsiError(Exception):
    """A refusal with its eHDSI code; ``message`` is French, ``detail`` says what exactly was wrong."""

    def __init__(self, code: str, detail: str = "", *, sender: bool = True) -> None:
        code = NUMERIC.get(code, code)
        self.code = code
        self.detail = detail
        #: whose fault it is (SOAP ``env:Sender`` vs ``env:Receiver``)
        self.sender = sender
        super().__init__(f"{code}: {self.message}" + (f" ({detail})" if detail else ""))

    @property
    def message(self) -> str:
        return VOCABULARY.get(self.code, (f"Erreur {self.code} du pays d'affiliation.", ""))[0]

    @property
    def description(self) -> str:
        return VOCABULARY.get(self.code, ("", self.code))[1] or self.code

    def french(self) -> str:
        """The whole French message, with the detail when there is one."""
        return self.message + (f" Détail : {self.detail}" if self.detail else "")
