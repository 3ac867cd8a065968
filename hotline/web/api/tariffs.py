"""(Being written: tariffs API.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["tariffs"])
