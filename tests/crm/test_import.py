"""Customer import: strict / lenient / dry run, idempotent upsert, GBK CSV, XLSX, the CLI."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from hotline.crm import customers as crm
from hotline.crm.importer import import_customers, map_header
from hotline.crm.protect import IdProtector
from hotline.errors import Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import AuditEntry, Customer, CustomerPhone

HEADER_ZH = "户号,户名,用户分类,电压等级,供电单位,联系电话,地址,证件号码,重要客户,标签,台区,线路\n"
GOOD = (
    "3201009001,周建国,乡村居民,220V,nj,13912340001;025-52100001,南京市江宁区上坊村 1 号,"
    "11010519491231002X,否,低保,TA-1,F-1\n"
    "3201009002,南京机械厂,大工业,10kV,nj,13912340002,南京市江宁区科学园 2 号,,是,重点;双电源,TA-2,F-2\n"
    "3201009003,吴秀英,城镇居民,220V,,13912340001,,,否,,TA-1,F-1\n"
)
BAD = (
    "3201009004,坏分类,工厂,220V,nj,13912340004,,,否,,,\n"
    "3201009005,坏电话,城镇居民,220V,nj,12,,,否,,,\n"
    "3201009006,坏证件,城镇居民,220V,nj,13912340006,,110105194912310021,否,,,\n"
    "3201009007,坏单位,城镇居民,220V,xx,13912340007,,,否,,,\n"
    "3201009001,重复,城镇居民,220V,nj,13912340008,,,否,,,\n"
)


@pytest.fixture
def protector(tmp_path: Path) -> IdProtector:
    return IdProtector.from_file(tmp_path / "id.key")


async def _tenant(factory: Any) -> int:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "t1", "T1")
        await org.add_unit(s, t.id, "nj", "Nanjing", kind="city")
        return t.id


async def _count(factory: Any, model: Any = Customer) -> int:
    async with factory() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_strict_lenient_dry_run_and_idempotent(factory: Any, protector: IdProtector) -> None:
    tid = await _tenant(factory)
    data = (HEADER_ZH + GOOD + BAD).encode()
    kw: dict[str, Any] = {"protector": protector, "default_unit": "nj"}

    strict = await import_customers(factory, tid, data, "c.csv", **kw)
    assert not strict.written and await _count(factory) == 0
    assert strict.total == 8 and strict.rejected == 5
    got = [(e.line, e.field) for e in strict.errors]
    assert got == [(5, "customer_class"), (6, "phones"), (7, "id_number"), (8, "unit"), (9, "account_no")]
    assert "first on line 2" in strict.errors[-1].reason
    assert "check digit" in strict.errors[2].reason

    dry = await import_customers(factory, tid, data, "c.csv", dry_run=True, strict=False, **kw)
    assert (dry.created, dry.updated, dry.rejected, dry.written) == (3, 0, 5, False)
    assert [c.action for c in dry.changes] == ["create"] * 3
    assert await _count(factory) == 0

    lenient = await import_customers(factory, tid, data, "c.csv", strict=False, **kw)
    assert (lenient.created, lenient.rejected, lenient.written) == (3, 5, True)
    async with factory() as s:
        c = await crm.get_by_account(s, tid, "3201009001")
        assert c is not None
        assert (c.customer_class, c.transformer_area, c.feeder) == ("rural_resident", "TA-1", "F-1")
        assert c.phone == "+8613912340001" and c.id_number_mask == "110105********002X"
        assert crm.reveal_id_number(c, protector) == "11010519491231002X"
        assert await crm.phones_of(s, c) == ["+8613912340001", "+862552100001"]
        big = await crm.get_by_account(s, tid, "3201009002")
        assert big is not None and big.vip and big.tags == ["重点", "双电源"] and big.voltage == "10kV"
        # two accounts share a phone
        assert len(await crm.find_by_phone(s, tid, "13912340001")) == 2
        found = await crm.search(s, tid, id_number="11010519491231002x", protector=protector)
        assert [x.account_no for x in found] == ["3201009001"]
    assert await _count(factory, CustomerPhone) == 4

    again = await import_customers(factory, tid, (HEADER_ZH + GOOD).encode(), "c.csv", **kw)
    assert (again.created, again.updated, again.unchanged, again.written) == (0, 0, 3, False)

    changed = GOOD.replace("低保", "低保;孤寡").replace("13912340002", "13912340009")
    upd = await import_customers(factory, tid, (HEADER_ZH + changed).encode(), "c.csv", **kw)
    assert (upd.created, upd.updated, upd.unchanged) == (0, 2, 1)
    assert {c.account_no: c.fields for c in upd.changes if c.action == "update"} == {
        "3201009001": ("tags",),
        "3201009002": ("phones",),
    }
    async with factory() as s:
        big = await crm.get_by_account(s, tid, "3201009002")
        assert big is not None and await crm.phones_of(s, big) == ["+8613912340009"]
        # an empty cell never erases: account 3 had no address and keeps its phone
        e = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "customer.import").order_by(AuditEntry.id.desc())
        )
        assert e is not None and e.detail["updated"] == 2 and e.detail["written"] is True
    assert await _count(factory, CustomerPhone) == 4


async def test_gbk_csv_and_xlsx(factory: Any, protector: IdProtector) -> None:
    tid = await _tenant(factory)
    r = await import_customers(factory, tid, (HEADER_ZH + GOOD).encode("gbk"), "gbk.csv", protector=protector,
                               default_unit="nj")  # fmt: skip
    assert r.created == 3 and not r.errors
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        ["Account", "Name", "Class", "Unit", "Phone", "VIP", "Blacklisted", "Blacklist reason", "Notes"]
    )
    ws.append([3201009101, "Excel one", "commercial", "nj", 13912349101, "Y", "否", "", "x"])
    ws.append([3201009102, "Excel two", "agriculture", "nj", "13912349102", "no", "是", "", ""])
    ws.append([3201009001, "周建国", "rural_resident", "nj", None, None, None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    rx = await import_customers(factory, tid, buf.getvalue(), "c.xlsx", protector=protector, strict=False)
    assert rx.ignored_columns == ["Notes"]
    assert [(e.line, e.field) for e in rx.errors] == [(3, "blacklist_reason")]
    assert (rx.created, rx.unchanged) == (1, 1)
    async with factory() as s:
        c = await crm.get_by_account(s, tid, "3201009101")
        assert c is not None and c.vip and c.phone == "+8613912349101"


async def test_file_level_problems(factory: Any, protector: IdProtector) -> None:
    tid = await _tenant(factory)
    with pytest.raises(Invalid, match="no column for name"):
        await import_customers(factory, tid, b"account_no,phone\n1234,139\n", "x.csv", protector=protector)
    with pytest.raises(Invalid, match="unsupported"):
        await import_customers(factory, tid, b"x", "x.pdf", protector=protector)
    with pytest.raises(Invalid, match="unknown unit"):
        await import_customers(
            factory, tid, b"account_no,name\n", "x.csv", protector=protector, default_unit="zz"
        )
    idx, _named, ignored = map_header(["户号", " 户 名 ", "Voltage", "foo"])
    assert set(idx.values()) == {"account_no", "name", "voltage"} and ignored == ["foo"]
    # no unit anywhere → the row is refused, not the file
    r = await import_customers(factory, tid, b"account_no,name\n12345,x\n", "x.csv", protector=protector)
    assert [(e.line, e.field) for e in r.errors] == [(2, "unit")]


def test_cli_import(tmp_path: Path) -> None:
    from hotline.cli import app

    db = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    runner = CliRunner()
    common = ["--data-dir", str(tmp_path / "data"), "--database-url", db]
    imp = ["--unit-default", "nj"]
    r = runner.invoke(app, ["tenant", "add", "t1", "--name", "T1", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["unit", "add", "nj", "--name", "Nanjing", "--kind", "city", *common])
    assert r.exit_code == 0, r.output
    f = tmp_path / "c.csv"
    f.write_bytes((HEADER_ZH + GOOD + BAD).encode("utf-8-sig"))
    r = runner.invoke(app, ["import", "customers", str(f), *imp, *common])
    assert r.exit_code == 1 and "nothing imported" in r.output and "check digit" in r.output, r.output
    r = runner.invoke(app, ["import", "customers", str(f), "--lenient", "--dry-run", *imp, *common])
    assert r.exit_code == 0 and "dry run" in r.output, r.output
    errs = tmp_path / "errors.csv"
    r = runner.invoke(
        app, ["import", "customers", str(f), "--lenient", "--errors-csv", str(errs), *imp, *common]
    )
    assert r.exit_code == 0, r.output
    assert len(errs.read_text(encoding="utf-8-sig").splitlines()) == 6
    r = runner.invoke(app, ["import", "customers", str(f), "--lenient", *imp, *common])
    assert r.exit_code == 0 and "unchanged" in r.output
    assert (tmp_path / "data" / "keys" / "customer-id.key").stat().st_mode & 0o777 == 0o600
