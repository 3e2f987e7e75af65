"""eHDSI National Contact Point roles.

Will hold IHE XCPD/XCA/XDR SOAP endpoints, SAML assertion handling, the peer
registry and the NCP audit trail, calling cda_transform and the FHIR API.
"""
