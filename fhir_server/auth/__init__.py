"""Authorization: the SMART authorization server, who logs in, access policies and audit.

Modules (import from them directly; this package imports nothing, so ``fhir_server.rest``
can use the light ones without loading authlib's server side):

- :mod:`.settings` — :class:`AuthSettings`, read from ``PASSERELLE_*`` environment variables;
- :mod:`.scopes` — the SMART scope model (v1 and v2 syntax);
- :mod:`.compartment` — Patient compartment membership (R4 CompartmentDefinition);
- :mod:`.policy` — :class:`AccessPolicy`, what a token may read and write (and how search applies it);
- :mod:`.roles` — the role rules of professionals (care, médecin conseil, pharmacist);
- :mod:`.relationships` — per request, the patients a practitioner cares for (and their role);
- :mod:`.access` — the instance and write checks of one interaction (guard and Bundle entries);
- :mod:`.guard` — enforcement inside the FHIR layer, on every interaction;
- :mod:`.audit` — AuditEvent records;
- :mod:`.keys` — the signing keys (JWKS) kept under the data dir;
- :mod:`.server`, :mod:`.models`, :mod:`.clients`, :mod:`.store` — the authlib authorization server;
- :mod:`.routes`, :mod:`.pages`, :mod:`.smart` — its HTTP routes, login pages and SMART configuration;
- :mod:`.psc`, :mod:`.devpsc`, :mod:`.practitioners`, :mod:`.eligibility` — professionals through
  Pro Santé Connect (and its development look-alike);
- :mod:`.accounts`, :mod:`.notify` — patient accounts, e-mail and SMS;
- :mod:`.cli` — ``passerelle clients``.
"""
