"""The portal: a French, server-rendered client of the FHIR API (FastAPI + Jinja2).

``create_portal(settings)`` builds the app mounted at ``/``; areas (subpackages defining
``AREA``) plug their screens in (see :mod:`apps.portal.areas`); screens use the helpers
of :mod:`apps.portal.web` (current user, FHIR client, CSRF, rendering).
"""

from apps.portal.app import Portal, create_portal
from apps.portal.areas import Area, MenuEntry
from apps.portal.config import PortalConfig
from apps.portal.fhir import FhirClient, FhirError

__all__ = ["Area", "FhirClient", "FhirError", "MenuEntry", "Portal", "PortalConfig", "create_portal"]
