"""The teleconsultation area's router (its modules add their routes to it)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
