"""hotline billing run / tariffs validate / tariffs load: output, exit codes, idempotence."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from hotline.cli import app
from hotline.store.bulk import bulk_insert
from hotline.store.db import create_engine, session_factory
from hotline.store.models import Customer, MeterReading

runner = CliRunner()


def test_validate_load_and_run(tmp_path: Path) -> None:
    dd = ["--data-dir", str(tmp_path / "data")]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- {code: x, kind: tou, customer_class: commercial, effective_from: 2026-01-01,\n"
        "   tou: {windows: {peak: ['08:00-12:00'], flat: ['13:00-08:00']}, prices: {peak: 1, flat: 0.5}}}\n"
        "- {code: y, kind: flat, customer_class: agriculture, effective_from: 2026-01-01, price: 0.5}\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["billing", "tariffs", "validate", str(bad)])
    assert r.exit_code == 1 and "tou.windows" in r.output and "gaps 12:00-13:00" in r.output
    assert "tariffs[1] (y): ok" in r.output
    assert runner.invoke(app, ["billing", "tariffs", "validate", str(tmp_path / "none.yaml")]).exit_code == 2
    r = runner.invoke(app, ["billing", "tariffs", "load", str(bad), *dd])
    assert r.exit_code != 0  # nothing loaded from an invalid file

    assert runner.invoke(app, ["seed", "demo", *dd]).exit_code == 0
    r = runner.invoke(app, ["billing", "tariffs", "load", *dd])
    assert r.exit_code == 0 and "new or changed" in r.output, r.output  # the demo may have them already
    r = runner.invoke(app, ["billing", "tariffs", "load", *dd])
    assert "0 new or changed" in r.output

    async def readings() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'hotline.db'}")
        try:
            async with session_factory(engine)() as s, s.begin():
                cs = (await s.execute(select(Customer.id, Customer.tenant_id))).all()
                rows = [
                    {
                        "tenant_id": t,
                        "customer_id": c,
                        "period": "2031-10",
                        "read_on": date(2031, 10, 31),
                        "kwh_total": D("100.00"),
                    }
                    for c, t in cs
                ]
                await bulk_insert(await s.connection(), MeterReading.__table__, rows)
                return len(rows)
        finally:
            await engine.dispose()

    n = asyncio.run(readings())
    r = runner.invoke(app, ["billing", "run", "--period", "2031-10", "--json", *dd])
    assert r.exit_code in (0, 1), r.output
    assert '"billed"' in r.output
    r = runner.invoke(app, ["billing", "run", "--period", "2031-10", *dd])
    assert "already billed" in r.output and f"{n}" in r.output
    assert runner.invoke(app, ["billing", "run", "--period", "2031-13", *dd]).exit_code == 2
