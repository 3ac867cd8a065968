"""``hotline seed utility``: realistic utility demo data. (Being written.)"""

from __future__ import annotations


def seed_utility_cmd() -> None:
    """Generate customers, readings, bills, payments and outages (deterministic with --seed)."""
    raise SystemExit("hotline seed utility: being written")
