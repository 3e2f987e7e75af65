"""Sign-up of professionals without a CPS/e-CPS card (the portal's side of ``/auth/professionals``).

The form keeps what was typed and shows the authorization server's refusals on their field;
the e-mail link and the SMS code are then handled by the authorization server's own pages
(``fhir_server.auth.pro_signup``). Visitors have no session: the forms carry a double-submit
CSRF token (``apps.portal.web.public_csrf``).
"""

from pathlib import Path

from fastapi import APIRouter

from apps.portal.areas import Area

router = APIRouter(include_in_schema=False)

from apps.portal.signup import screens  # noqa: E402,F401

AREA = Area(
    name="signup",
    router=router,
    order=90,
    templates=Path(__file__).parent / "templates",
)
