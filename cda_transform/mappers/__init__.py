"""One module per FHIR resource family; ``dispatch.map_entry`` picks the mapper for a CDA entry."""
