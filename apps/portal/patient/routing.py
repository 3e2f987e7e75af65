"""The patient area's router (screens add their routes to it)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
