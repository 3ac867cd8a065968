"""Work orders API (issue 8): filled in by its owner (see /tmp/tickets_contract.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tickets"])
