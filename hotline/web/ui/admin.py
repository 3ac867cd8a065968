"""The administration application (/admin): server-rendered pages on the JSON API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
