"""Authorization: the SMART authorization server, who logs in, access policies and audit.

Public surface (import from the submodules, kept light so ``fhir_server.config`` and the
REST layer can import them without pulling in authlib):

- :mod:`.settings` — :class:`AuthSettings`, read from the environment;
- :mod:`.scopes` — the SMART scope model (v1 and v2 syntax);
- :mod:`.policy` — :class:`AccessPolicy`, what a token may read and write;
- :mod:`.guard` — enforcement inside the FHIR layer (every interaction);
- :mod:`.audit` — AuditEvent records;
- :mod:`.routes` — the authorization server's routes, mounted at the root by ``passerelle serve``.
"""
