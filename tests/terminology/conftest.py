from __future__ import annotations

from pathlib import Path

import pytest

from terminology import get_service
from terminology.service import TerminologyService

FIXTURES = Path(__file__).parent / "fixtures"

EMDN = "urn:oid:1.3.6.1.4.1.12559.11.10.1.3.1.44.6"
SNOMED = "http://snomed.info/sct"
ROLECODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
V3_GENDER = "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"
EHDSI = "http://terminology.ehdsi.eu/ValueSet/"


@pytest.fixture(scope="session")
def service() -> TerminologyService:
    """The default service with the vendored content (shared by the session: loading takes ~0.5 s)."""
    return get_service()
