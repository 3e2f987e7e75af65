"""HTTP layer of the FHIR server: thin handlers over the repository."""
