"""E-mail notifications of the secure messaging: real SMTP through the server's mailer.

Reuses :func:`fhir_server.auth.notify.send_mail` (same ``PASSERELLE_SMTP_HOST`` / ``_PORT`` /
``PASSERELLE_MAIL_FROM`` settings, sent from a worker thread, never on the event loop). A mail
that cannot be delivered does not undo the message: it is logged, the thread shows it anyway.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fhir_server.auth.notify import MailError, send_mail
from fhir_server.auth.settings import AuthSettings

log = logging.getLogger("passerelle.portal.messaging")


class Mailer:
    def __init__(self, settings: AuthSettings | None = None) -> None:
        self.settings = settings or AuthSettings(data_dir=Path("var"))

    async def send(self, to: str, subject: str, body: str) -> bool:
        try:
            await send_mail(self.settings, to, subject, body)
        except MailError as exc:
            log.warning("messaging notification to %s not sent: %s", to, exc)
            return False
        return True
