"""Outgoing messages to patients: e-mail over SMTP, SMS through a pluggable gateway.

E-mails carry a link only, never health data. The SMS gateway is chosen by name
(``PASSERELLE_SMS_GATEWAY``); the development gateway ``outbox`` appends each message
as one JSON line to a file under the data dir, which is where tests read the codes.
"""

from __future__ import annotations

import json
import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from fhir_server.auth.settings import AuthSettings
from fhir_server.storage.records import fhir_instant, now_ms


def _send_mail(settings: AuthSettings, to: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
        smtp.send_message(msg)


class MailError(Exception):
    """The SMTP server could not take the message."""


async def send_mail(settings: AuthSettings, to: str, subject: str, body: str) -> None:
    try:
        await run_in_threadpool(_send_mail, settings, to, subject, body)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(str(exc)) from exc


class SmsGateway(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class OutboxGateway:
    """Development gateway: one JSON line per SMS in ``sms-outbox.jsonl``."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    async def send(self, phone: str, text: str) -> None:
        line = json.dumps({"to": phone, "text": text, "at": fhir_instant(now_ms())}, ensure_ascii=False)
        await run_in_threadpool(self._append, line)


GATEWAYS = {"outbox": lambda s: OutboxGateway(s.sms_outbox)}


def sms_gateway(settings: AuthSettings) -> SmsGateway:
    try:
        return GATEWAYS[settings.sms_gateway](settings)
    except KeyError as exc:
        raise SystemExit(f"PASSERELLE_SMS_GATEWAY inconnu : {settings.sms_gateway}") from exc
