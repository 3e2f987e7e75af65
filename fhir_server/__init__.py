"""The FHIR R4 REST server: routing, storage, validation (and later search, bundles, auth).

Public surface: :func:`create_app` (the ASGI app to mount at ``/fhir``), :class:`Settings`,
:class:`EmbeddedMongo` (the embedded database), :class:`MongoRepository` and
:class:`FhirError`.
"""

from fhir_server.dbshapes import install_from_env as _record_query_shapes

_record_query_shapes()  # PASSERELLE_QUERY_SHAPES set: record every database command's shape (docs/scaling.md)

from fhir_server.config import Settings  # noqa: E402
from fhir_server.embedded import EmbeddedMongo  # noqa: E402
from fhir_server.errors import FhirError  # noqa: E402
from fhir_server.rest.app import create_app  # noqa: E402
from fhir_server.storage import MongoRepository  # noqa: E402

__all__ = ["EmbeddedMongo", "FhirError", "MongoRepository", "Settings", "create_app"]
