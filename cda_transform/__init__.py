"""eHDSI CDA (Patient Summary, later ePrescription) <-> FHIR IPS, with translation to French."""
