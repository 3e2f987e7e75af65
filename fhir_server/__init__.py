"""The FHIR R4 REST server: routing, storage, validation (and later search, bundles, auth).

Public surface: :func:`create_app` (the ASGI app to mount at ``/fhir``), :class:`Settings`,
:class:`EmbeddedMongo` (the embedded database), :class:`MongoRepository` and
:class:`FhirError`.
"""

from fhir_server.config import Settings
from fhir_server.embedded import EmbeddedMongo
from fhir_server.errors import FhirError
from fhir_server.rest.app import create_app
from fhir_server.storage import MongoRepository

__all__ = ["EmbeddedMongo", "FhirError", "MongoRepository", "Settings", "create_app"]
