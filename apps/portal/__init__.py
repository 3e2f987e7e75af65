"""The thin French web portal (doctors, patients, médecin conseil), a client of the FHIR API over HTTP.

Will hold the FastAPI + Jinja2 application mounted at ``/``.
"""
