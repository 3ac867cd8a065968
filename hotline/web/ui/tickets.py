"""Work-order pages (handler queue, reviewer, overdue board): filled in by H-ui."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
