"""Customer import from CSV or XLSX: per-row checks, dry run, strict or lenient, idempotent upsert
by account number.

**Files.** CSV in UTF-8 (with or without BOM) or GBK/GB18030 (tried when the file is not
UTF-8), comma-separated, first row = header; XLSX (first sheet, first row = header, read with
openpyxl in read-only mode). Line numbers in errors are the file's (the header is line 1).

**Columns** (header names are matched ignoring case, blanks and ``_``; unknown columns are
reported and ignored; ``account_no`` and ``name`` are required):

==================  ===========================================================
field               header names accepted
==================  ===========================================================
account_no          account_no, account, 户号, 用户编号, 客户编号
name                name, 户名, 用户名称, 客户名称, 姓名
customer_class      customer_class, class, 用户分类, 用电类别, 客户分类
voltage             voltage, 电压等级
unit                unit, unit_code, 供电单位, 供电所 (a unit code of the tenant)
phones              phones, phone, 联系电话, 电话, 手机, 手机号码 (several: , ; / or blank)
address             address, 地址, 用电地址
id_number           id_number, 证件号码, 身份证号, 身份证号码
vip                 vip, 重要客户
tags                tags, 标签
transformer_area    transformer_area, 台区
feeder              feeder, 线路
email               email, 电子邮箱, 邮箱
preferred_channel   preferred_channel, 通知方式
blacklisted         blacklisted, 黑名单
blacklist_reason    blacklist_reason, 黑名单原因
status              status, 状态
tariff_code         tariff_code, 电价代码
capacity_kva        capacity_kva, 合同容量
dedicated_agent     dedicated_agent, 客户经理 (a user name of the tenant)
==================  ===========================================================

Values may be written in Chinese: classes 城镇居民 乡村居民/农村居民 商业/一般工商业 大工业 农业,
channels 短信 电话/语音 邮件 微信 不通知/无, status 正常 暂停 销户, yes/no as 是/否, Y/N, 1/0,
true/false. The rules of every field are those of :mod:`hotline.crm.customers`.

**Modes.** Every row is checked first and every problem reported as
:class:`RowError` (line, field, reason). *strict* (default): if any row is bad nothing is
imported. *lenient*: the good rows are imported, the bad ones reported. *dry run*: nothing is
written; the report says what would be created, updated or left unchanged.

**Upsert.** A row whose account number exists updates that customer; only the columns present
in the file are compared and written, and **an empty cell never erases a stored value**.
Re-importing the same file changes nothing (rows are reported *unchanged*). An account number
twice in one file is an error on the later line. Rows are written in batches with
:func:`hotline.store.bulk.bulk_insert` (COPY on PostgreSQL) in one transaction, and the import
is one audit entry (``customer.import``) with the counts.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import audit
from hotline.auth.policy import Principal
from hotline.crm import customers as crm
from hotline.crm.phones import phone_kind
from hotline.crm.protect import IdProtector
from hotline.errors import Invalid
from hotline.store.bulk import bulk_insert
from hotline.store.db import transaction
from hotline.store.models import Customer, CustomerPhone, Unit, User
from hotline.store.types import utcnow

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "account_no": ("account_no", "account", "户号", "用户编号", "客户编号"),
    "name": ("name", "户名", "用户名称", "客户名称", "姓名"),
    "customer_class": ("customer_class", "class", "用户分类", "用电类别", "客户分类"),
    "voltage": ("voltage", "电压等级"),
    "unit": ("unit", "unit_code", "供电单位", "供电所"),
    "phones": ("phones", "phone", "联系电话", "电话", "手机", "手机号码"),
    "address": ("address", "地址", "用电地址"),
    "id_number": ("id_number", "证件号码", "身份证号", "身份证号码"),
    "vip": ("vip", "重要客户"),
    "tags": ("tags", "标签"),
    "transformer_area": ("transformer_area", "台区"),
    "feeder": ("feeder", "线路"),
    "email": ("email", "电子邮箱", "邮箱"),
    "preferred_channel": ("preferred_channel", "通知方式"),
    "blacklisted": ("blacklisted", "黑名单"),
    "blacklist_reason": ("blacklist_reason", "黑名单原因"),
    "status": ("status", "状态"),
    "tariff_code": ("tariff_code", "电价代码"),
    "capacity_kva": ("capacity_kva", "合同容量"),
    "dedicated_agent": ("dedicated_agent", "客户经理"),
}
REQUIRED = ("account_no", "name")

CLASS_ALIASES = {
    "城镇居民": "urban_resident",
    "居民": "urban_resident",
    "乡村居民": "rural_resident",
    "农村居民": "rural_resident",
    "商业": "commercial",
    "一般工商业": "commercial",
    "大工业": "large_industry",
    "农业": "agriculture",
    "农业生产": "agriculture",
}
CHANNEL_ALIASES = {
    "短信": "sms",
    "电话": "voice",
    "语音": "voice",
    "邮件": "email",
    "电子邮件": "email",
    "微信": "wechat",
    "不通知": "none",
    "无": "none",
}
STATUS_ALIASES = {"正常": "active", "暂停": "suspended", "中止": "suspended", "销户": "closed"}
TRUE = {"是", "y", "yes", "true", "1", "√", "vip"}
FALSE = {"否", "n", "no", "false", "0", ""}

#: most row changes kept in the report (the counts are always complete)
MAX_CHANGES = 2000
BATCH = 2000


def _key(header: str) -> str:
    return "".join(header.split()).replace("_", "").lower().lstrip("\ufeff")


_HEADER_INDEX = {_key(alias): f for f, aliases in HEADER_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    reason: str
    account_no: str = ""


@dataclass(frozen=True)
class RowChange:
    line: int
    account_no: str
    action: str  # create | update | unchanged
    fields: tuple[str, ...] = ()


@dataclass
class ImportReport:
    file: str
    dry_run: bool
    strict: bool
    #: rows in the file; the counts below are what the file does (or, in a dry run or a strict
    #: run with errors, would do): ``written`` says whether it was done
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    #: whether anything was written (False for a dry run and for a strict run with errors)
    written: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # header → field
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


# -- reading files ----------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else GB18030 (a superset of GBK)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise Invalid(f"the file is neither UTF-8 nor GBK text (byte {exc.start})", field="file") from None


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def read_rows(data: bytes, filename: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of (line number, cells) of a CSV or XLSX file."""
    suffix = PurePath(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm") or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if suffix not in (".csv", ".txt", ""):
        raise Invalid(f"unsupported file type {suffix!r}: use .csv or .xlsx", field="file")
    text = decode_csv(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise Invalid("the file is empty", field="file") from None
    except csv.Error as exc:
        raise Invalid(f"line 1: {exc}", field="file") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise Invalid(f"line {line}: {exc}", field="file") from None
            if any(c.strip() for c in cells):
                yield line, [c.strip() for c in cells]
            line = reader.line_num + 1

    return [h.strip() for h in header], rows()


def _read_xlsx(data: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of errors for a broken file
        raise Invalid(f"cannot read the XLSX file: {exc}", field="file") from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        header = [_cell(v) for v in next(it)]
    except StopIteration:
        wb.close()
        raise Invalid("the file is empty", field="file") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for n, values in enumerate(it, start=2):
                cells = [_cell(v) for v in values]
                if any(cells):
                    yield n, cells
        finally:
            wb.close()

    return header, rows()


def map_header(header: Sequence[str]) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """(column index → field, header → field, ignored headers); :class:`Invalid` when a
    required column is missing or a field appears twice."""
    index: dict[int, str] = {}
    named: dict[str, str] = {}
    ignored: list[str] = []
    for i, h in enumerate(header):
        f = _HEADER_INDEX.get(_key(h))
        if f is None:
            if h:
                ignored.append(h)
            continue
        if f in index.values():
            raise Invalid(f"two columns for {f}: {h!r} and another", field="file")
        index[i] = f
        named[h] = f
    missing = [f for f in REQUIRED if f not in index.values()]
    if missing:
        names = " / ".join(f"{f} ({HEADER_ALIASES[f][2]})" for f in missing)
        raise Invalid(f"the header has no column for {names}", field="file")
    return index, named, ignored


# -- checking rows (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Lookups:
    """What rows are checked against: unit codes → (id, path), user names → id."""

    units: Mapping[str, tuple[int, str]]
    users: Mapping[str, int]
    default_unit: str | None = None


@dataclass(frozen=True)
class ParsedRow:
    line: int
    account_no: str
    #: clean values of the non-empty cells (customers.clean_fields form; phones as a list)
    values: dict[str, Any]
    unit_id: int | None
    unit_path: str | None
    agent_id: int | None


def _yes_no(text: str, f: str) -> bool:
    t = text.strip().lower()
    if t in TRUE:
        return True
    if t in FALSE:
        return False
    raise Invalid(f"{text!r} is not yes/no (是/否)", field=f)


def parse_row(line: int, cells: Mapping[str, str], lk: Lookups) -> ParsedRow | list[RowError]:
    """Check one row (field → cell text); empty cells are left out."""
    errors: list[RowError] = []
    account = cells.get("account_no", "").strip()
    raw: dict[str, Any] = {}
    for f, text in cells.items():
        text = text.strip()
        if not text or f in ("unit", "dedicated_agent"):
            continue
        try:
            if f == "customer_class":
                text = CLASS_ALIASES.get(text, text)
            elif f == "preferred_channel":
                text = CHANNEL_ALIASES.get(text, text.lower())
            elif f == "status":
                text = STATUS_ALIASES.get(text, text.lower())
            if f in ("vip", "blacklisted"):
                raw[f] = _yes_no(text, f)
            else:
                raw[f] = text
        except Invalid as exc:
            errors.append(RowError(line, exc.field or f, exc.detail, account))
    if not account:
        errors.append(RowError(line, "account_no", "the account number is empty"))
    values, problems = crm.clean_fields(raw)
    errors += [RowError(line, f.split("[")[0], r, account) for f, r in problems]
    if values.get("blacklisted") and not values.get("blacklist_reason"):
        errors.append(RowError(line, "blacklist_reason", "a blacklisted customer needs a reason", account))
    unit_code = cells.get("unit", "").strip() or (lk.default_unit or "")
    unit_id = unit_path = None
    if unit_code:
        found = lk.units.get(unit_code)
        if found is None:
            errors.append(RowError(line, "unit", f"unknown unit code {unit_code!r}", account))
        else:
            unit_id, unit_path = found
    agent_name = cells.get("dedicated_agent", "").strip()
    agent_id = None
    if agent_name:
        agent_id = lk.users.get(agent_name)
        if agent_id is None:
            errors.append(RowError(line, "dedicated_agent", f"unknown user {agent_name!r}", account))
    if errors:
        return errors
    return ParsedRow(line, values["account_no"], values, unit_id, unit_path, agent_id)


#: the stored state of a customer, as the importer compares it
Existing = dict[str, Any]


def diff(existing: Existing, row: ParsedRow, id_hash: str | None) -> list[str]:
    """Fields the row would change on the stored customer (empty cells change nothing)."""
    changed = []
    for k, v in row.values.items():
        if k == "phones":
            if v and (v[0] != existing["phone"] or set(v) != set(existing["phones"])):
                changed.append("phones")
        elif k == "id_number":
            if id_hash != existing["id_number_hash"]:
                changed.append("id_number")
        elif k == "account_no":
            continue
        elif existing.get(k) != v:
            changed.append(k)
    if row.unit_id is not None and row.unit_id != existing["unit_id"]:
        changed.append("unit")
    if row.agent_id is not None and row.agent_id != existing["dedicated_agent_id"]:
        changed.append("dedicated_agent_id")
    return sorted(changed)


# -- the import (shell) -----------------------------------------------------------------------

#: (unit path, owner id) → may the importing user write a customer there?
Authorize = Callable[[str, int | None], bool]
Progress = Callable[[str, int, int], None]  # phase ("check" | "write"), done, total

_COLUMNS = tuple(c for c in crm._PLAIN if c != "account_no")


async def _lookups(s: AsyncSession, tenant_id: int, default_unit: str | None) -> Lookups:
    units = {
        code: (uid, path)
        for uid, code, path in await s.execute(
            select(Unit.id, Unit.code, Unit.path).where(Unit.tenant_id == tenant_id)
        )
    }
    users = {
        u: i for i, u in await s.execute(select(User.id, User.username).where(User.tenant_id == tenant_id))
    }
    if default_unit and default_unit not in units:
        raise Invalid(f"unknown unit code {default_unit!r}", field="unit_default")
    return Lookups(units, users, default_unit)


async def _existing(s: AsyncSession, tenant_id: int, accounts: Sequence[str]) -> dict[str, Existing]:
    out: dict[str, Existing] = {}
    cols = [Customer.id, Customer.account_no, Customer.unit_id, Customer.dedicated_agent_id, Customer.phone,
            Customer.id_number_hash, *(getattr(Customer, c) for c in _COLUMNS)]  # fmt: skip
    for i in range(0, len(accounts), 500):
        chunk = accounts[i : i + 500]
        rows = await s.execute(
            select(*cols).where(Customer.tenant_id == tenant_id, Customer.account_no.in_(chunk))
        )
        by_id: dict[int, Existing] = {}
        for r in rows.mappings():
            e = dict(r)
            e["phones"] = []
            out[e["account_no"]] = e
            by_id[e["id"]] = e
        if by_id:
            phones = await s.execute(
                select(CustomerPhone.customer_id, CustomerPhone.phone).where(
                    CustomerPhone.customer_id.in_(list(by_id))
                )
            )
            for cid, p in phones:
                by_id[cid]["phones"].append(p)
    return out


async def import_customers(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    data: bytes,
    filename: str,
    *,
    protector: IdProtector,
    dry_run: bool = False,
    strict: bool = True,
    default_unit: str | None = None,
    principal: Principal | None = None,
    actor: str = "cli",
    authorize: Authorize | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> ImportReport:
    """Check and (unless a dry run, or strict with errors) write the file's customers."""
    started = time.perf_counter()
    report = ImportReport(file=PurePath(filename).name, dry_run=dry_run, strict=strict)
    header, rows = read_rows(data, filename)
    index, report.columns, report.ignored_columns = map_header(header)
    async with factory() as s:
        lk = await _lookups(s, tenant_id, default_unit)
    parsed: list[ParsedRow] = []
    first_line: dict[str, int] = {}
    bad_lines: set[int] = set()
    all_rows = list(rows)
    total = len(all_rows)
    report.total = total
    for n, (line, cells) in enumerate(all_rows, start=1):
        by_field = {f: cells[i] if i < len(cells) else "" for i, f in index.items()}
        result = parse_row(line, by_field, lk)
        if isinstance(result, list):
            report.errors += result
            bad_lines.add(line)
        elif result.account_no in first_line:
            report.errors.append(
                RowError(line, "account_no", f"duplicate account number (first on line {first_line[result.account_no]})",
                         result.account_no)
            )  # fmt: skip
            bad_lines.add(line)
        else:
            first_line[result.account_no] = line
            parsed.append(result)
        if progress and (n % 1000 == 0 or n == total):
            progress("check", n, total)
    async with factory() as s:
        existing = await _existing(s, tenant_id, [p.account_no for p in parsed])
    creates: list[tuple[ParsedRow, str | None]] = []
    updates: list[tuple[ParsedRow, Existing, list[str], str | None]] = []
    for p in parsed:
        id_hash = protector.search_hash(p.values["id_number"]) if p.values.get("id_number") else None
        old = existing.get(p.account_no)
        err: RowError | None = None
        if old is None:
            if p.unit_id is None:
                err = RowError(
                    p.line, "unit", "no supply unit (add a unit column or --unit-default)", p.account_no
                )
            elif "name" not in p.values:
                err = RowError(p.line, "name", "the name is empty", p.account_no)
            elif authorize and not authorize(p.unit_path or "", p.agent_id):
                err = RowError(
                    p.line, "unit", "permission customer.write is not granted at this unit", p.account_no
                )
        elif authorize:
            old_path = lk_path(lk, old["unit_id"])
            if not authorize(old_path, old["dedicated_agent_id"]) or (
                p.unit_path is not None
                and not authorize(p.unit_path, p.agent_id or old["dedicated_agent_id"])
            ):
                err = RowError(
                    p.line, "unit", "permission customer.write is not granted for this customer", p.account_no
                )
        if err is not None:
            report.errors.append(err)
            bad_lines.add(p.line)
            continue
        if old is None:
            creates.append((p, id_hash))
            _note(report, RowChange(p.line, p.account_no, "create"))
        else:
            changed = diff(old, p, id_hash)
            merged_black = p.values.get("blacklisted", old["blacklisted"])
            merged_reason = p.values.get("blacklist_reason", old["blacklist_reason"])
            if merged_black and not merged_reason:
                report.errors.append(RowError(p.line, "blacklist_reason", "a blacklisted customer needs a reason",
                                              p.account_no))  # fmt: skip
                bad_lines.add(p.line)
                continue
            if changed:
                updates.append((p, old, changed, id_hash))
                _note(report, RowChange(p.line, p.account_no, "update", tuple(changed)))
            else:
                report.unchanged += 1
                _note(report, RowChange(p.line, p.account_no, "unchanged"))
    report.errors.sort(key=lambda e: (e.line, e.field))
    report.rejected = len(bad_lines)
    report.created, report.updated = len(creates), len(updates)
    write = not dry_run and not (strict and report.errors) and (creates or updates)
    if write:
        async with transaction(factory) as s:
            await _write(s, tenant_id, creates, updates, protector, progress, batch)
            _audit(s, report, principal, tenant_id, actor, written=True)
        report.written = True
    else:
        async with transaction(factory) as s:
            _audit(s, report, principal, tenant_id, actor, written=False)
    report.seconds = time.perf_counter() - started
    return report


def lk_path(lk: Lookups, unit_id: int) -> str:
    for uid, path in lk.units.values():
        if uid == unit_id:
            return path
    return ""


def _note(report: ImportReport, change: RowChange) -> None:
    if len(report.changes) < MAX_CHANGES:
        report.changes.append(change)


def _audit(
    s: AsyncSession,
    report: ImportReport,
    principal: Principal | None,
    tenant_id: int,
    actor: str,
    *,
    written: bool,
) -> None:
    audit.record(
        s,
        "customer.import",
        principal=principal,
        tenant_id=tenant_id,
        actor=actor,
        resource_type="customer",
        outcome="ok" if written or report.dry_run or not report.errors else "failed",
        detail={
            "file": report.file,
            "dry_run": report.dry_run,
            "strict": report.strict,
            "written": written,
            "rows": report.total,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
        },
    )


def _row_columns(p: ParsedRow, protector: IdProtector) -> dict[str, Any]:
    out = {k: p.values[k] for k in _COLUMNS if k in p.values}
    if p.values.get("id_number"):
        out["id_number_enc"], out["id_number_hash"], out["id_number_mask"] = protector.protect(
            p.values["id_number"]
        )
    return out


async def _write(
    s: AsyncSession,
    tenant_id: int,
    creates: Sequence[tuple[ParsedRow, str | None]],
    updates: Sequence[tuple[ParsedRow, Existing, list[str], str | None]],
    protector: IdProtector,
    progress: Progress | None,
    batch: int,
) -> None:
    conn = await s.connection()
    table = cast(Table, Customer.__table__)
    ptable = cast(Table, CustomerPhone.__table__)
    total = len(creates) + len(updates)
    done = 0
    defaults = {c.name: c.default.arg for c in table.columns if c.default is not None and c.default.is_scalar}  # type: ignore[attr-defined]
    list_defaults = ("addresses", "tags")
    now = utcnow()
    for i in range(0, len(creates), batch):
        chunk = creates[i : i + batch]
        rows = []
        for p, _h in chunk:
            r: dict[str, Any] = {k: defaults.get(k) for k in _COLUMNS if k not in list_defaults}
            r.update({k: [] for k in list_defaults})
            r.update({"id_number_enc": "", "id_number_hash": "", "id_number_mask": "", "pin_hash": "",
                      "phone": ""})  # fmt: skip
            r.update(_row_columns(p, protector))
            r.update(
                tenant_id=tenant_id,
                unit_id=p.unit_id,
                account_no=p.account_no,
                dedicated_agent_id=p.agent_id,
                phone=(p.values.get("phones") or [""])[0],
                created_at=now,
                updated_at=now,
            )
            rows.append(r)
        await bulk_insert(conn, table, rows)
        ids = dict(
            (
                await conn.execute(
                    select(Customer.account_no, Customer.id).where(
                        Customer.tenant_id == tenant_id,
                        Customer.account_no.in_([p.account_no for p, _ in chunk]),
                    )
                )
            ).all()
        )
        phones = [
            {"tenant_id": tenant_id, "customer_id": ids[p.account_no], "phone": ph, "kind": phone_kind(ph)}
            for p, _ in chunk
            for ph in p.values.get("phones", [])
        ]
        await bulk_insert(conn, ptable, phones)
        done += len(chunk)
        if progress:
            progress("write", done, total)
    for i in range(0, len(updates), batch):
        chunk_u = updates[i : i + batch]
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        phone_rows: list[dict[str, Any]] = []
        phone_owners: list[int] = []
        for p, old, changed, _h in chunk_u:
            cols = _row_columns(p, protector)
            vals = {
                k: v
                for k, v in cols.items()
                if k in changed or (k.startswith("id_number_") and "id_number" in changed)
            }
            if "unit" in changed:
                vals["unit_id"] = p.unit_id
            if "dedicated_agent_id" in changed:
                vals["dedicated_agent_id"] = p.agent_id
            if "phones" in changed:
                phs = p.values["phones"]
                vals["phone"] = phs[0]
                phone_owners.append(old["id"])
                phone_rows += [
                    {"tenant_id": tenant_id, "customer_id": old["id"], "phone": ph, "kind": phone_kind(ph)}
                    for ph in phs
                ]
            vals["updated_at"] = now
            bound = {f"v_{k}": v for k, v in vals.items()}
            bound["b_id"] = old["id"]
            groups.setdefault(tuple(sorted(vals)), []).append(bound)
        for keys, rows_u in groups.items():
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({k: bindparam(f"v_{k}", type_=table.c[k].type) for k in keys})
            )
            await conn.execute(stmt, rows_u)
        if phone_owners:
            await conn.execute(delete(ptable).where(ptable.c.customer_id.in_(phone_owners)))
            await bulk_insert(conn, ptable, phone_rows)
        done += len(chunk_u)
        if progress:
            progress("write", done, total)
