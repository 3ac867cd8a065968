"""Exports of the work-order statistics (:mod:`hotline.tickets.stats`): CSV and XLSX.

CSV is UTF-8 with a byte-order mark (so Excel opens the Chinese headers correctly), comma
separated, rates as percentages with one decimal (``66.7%``), durations in hours. XLSX has the
same columns, rates as fractions formatted ``0.0%`` (Excel computes with them), durations in
hours (``0.0``). Headers are Chinese (``lang`` zh) or English. The last row is the total.

:func:`export_stats` makes a report from the database and writes it to a file (for the CLI).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.org import service as org
from hotline.store.db import transaction
from hotline.tickets import stats
from hotline.tickets.stats import Report, Row

Format = Literal["csv", "xlsx"]
FORMATS = ("csv", "xlsx")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: English labels of the default types (the stored labels are Chinese)
TYPE_EN = {
    "fault_repair": "Fault repair",
    "complaint": "Complaint",
    "report": "Report",
    "opinion": "Opinion",
    "suggestion": "Suggestion",
    "praise": "Praise",
    "consultation": "Consultation",
    "service_application": "Service application",
    "urge": "Urge",
}

# (key, zh, en, kind): kind count | hours | rate
MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("accepted", "受理量", "Accepted", "count"),
    ("withdrawn", "撤销合并", "Withdrawn", "count"),
    ("handled", "已回复", "Handled", "count"),
    ("pending", "未回复", "Pending", "count"),
    ("overdue", "超时量", "Overdue", "count"),
    ("overdue_hours", "超时时长(小时)", "Overdue hours", "hours"),
    ("overdue_avg_hours", "平均超时(小时)", "Avg overdue hours", "hours"),
    ("on_time", "按时回复", "On time", "count"),
    ("substantiated", "属实", "Substantiated", "count"),
    ("repeat", "重复", "Repeat", "count"),
    ("revisited", "已回访", "Revisited", "count"),
    ("satisfied", "满意", "Satisfied", "count"),
    ("basically_satisfied", "基本满意", "Basically satisfied", "count"),
    ("dissatisfied", "不满意", "Dissatisfied", "count"),
    ("urges", "催办次数", "Urges", "count"),
    ("escalations", "督办次数", "Escalations", "count"),
    ("reply_rate", "回复率", "Reply rate", "rate"),
    ("on_time_rate", "按时率", "On-time rate", "rate"),
    ("satisfaction_rate", "满意率", "Satisfaction rate", "rate"),
    ("substantiated_rate", "属实率", "Substantiated rate", "rate"),
)


def _zh(lang: str) -> bool:
    return not lang.lower().startswith("en")


def group_columns(group_by: Sequence[str], lang: str) -> list[tuple[str, str]]:
    zh = _zh(lang)
    cols: list[tuple[str, str]] = []
    if "day" in group_by or "month" in group_by:
        cols.append(
            (
                "period",
                ("日期" if "day" in group_by else "月份")
                if zh
                else ("Day" if "day" in group_by else "Month"),
            )
        )
    if "unit" in group_by:
        cols += [("unit_code", "单位编码" if zh else "Unit code"), ("unit_name", "单位" if zh else "Unit")]
    if "type" in group_by:
        cols += [("type_code", "类型编码" if zh else "Type code"), ("type_label", "类型" if zh else "Type")]
    return cols


def headers(report: Report, lang: str) -> list[str]:
    zh = _zh(lang)
    head = [label for _, label in group_columns(report.group_by, lang)] or ["范围" if zh else "Scope"]
    return head + [m[1] if zh else m[2] for m in MEASURES]


def _values(row: Row) -> dict[str, Any]:
    c, r = row.counts, row.rates
    out: dict[str, Any] = {name: getattr(c, name) for name in stats.COUNT_FIELDS}
    out["overdue_hours"] = round(c.overdue_seconds / 3600, 2)
    out["overdue_avg_hours"] = (
        None if r.overdue_avg_seconds is None else round(r.overdue_avg_seconds / 3600, 2)
    )
    out.update(
        reply_rate=r.reply_rate,
        on_time_rate=r.on_time_rate,
        satisfaction_rate=r.satisfaction_rate,
        substantiated_rate=r.substantiated_rate,
    )
    return out


def _label_cells(report: Report, row: Row | None, lang: str) -> list[Any]:
    cols = group_columns(report.group_by, lang) or [("scope", "")]
    zh = _zh(lang)
    if row is None or row is report.total:
        return ["合计" if zh else "Total"] + [""] * (len(cols) - 1)
    out: list[Any] = []
    for key, _ in cols:
        if key == "period":
            out.append(row.period or "")
        elif key == "unit_code":
            out.append(row.unit_code or "")
        elif key == "unit_name":
            out.append(row.unit_name or "")
        elif key == "type_code":
            out.append(row.type_code or "")
        elif key == "type_label":
            label = row.type_label or row.type_code or ""
            out.append(label if zh else TYPE_EN.get(row.type_code or "", label))
        else:
            out.append("合计" if zh else "Total")
    return out


def percent(x: float | None) -> str:
    return "" if x is None else f"{x * 100:.1f}%"


def to_csv(report: Report, *, lang: str = "zh") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers(report, lang))
    for row in [*report.rows, report.total]:
        vals = _values(row)
        cells = _label_cells(report, row, lang)
        for key, _, _, kind in MEASURES:
            v = vals[key]
            cells.append(percent(v) if kind == "rate" else ("" if v is None else v))
        w.writerow(cells)
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def to_xlsx(report: Report, *, lang: str = "zh") -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    zh = _zh(lang)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("工单统计" if zh else "Work orders")
    bold = Font(bold=True)
    head = []
    for text in headers(report, lang):
        cell = WriteOnlyCell(ws, value=text)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    for row in [*report.rows, report.total]:
        vals = _values(row)
        cells = [WriteOnlyCell(ws, value=v) for v in _label_cells(report, row, lang)]
        for key, _, _, kind in MEASURES:
            v = vals[key]
            cell = WriteOnlyCell(ws, value=None if v is None else (round(v, 6) if kind == "rate" else v))
            if kind == "rate":
                cell.number_format = "0.0%"
            elif kind == "hours":
                cell.number_format = "0.00"
            cells.append(cell)
        if row is report.total:
            for c in cells:
                c.font = bold
        ws.append(cells)
    info = wb.create_sheet("说明" if zh else "About")
    period = f"{report.start.isoformat()} … {report.end.isoformat()}"
    for k, v in (
        ("期间" if zh else "Period", period),
        ("时区" if zh else "Time zone", report.timezone),
        ("分组" if zh else "Grouped by", ", ".join(report.group_by) or "-"),
        ("生成时间" if zh else "Generated at", report.generated_at.isoformat(timespec="seconds")),
        *((k2, str(v2)) for k2, v2 in report.filters.items()),
    ):
        info.append([k, v])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def render(report: Report, fmt: str, *, lang: str = "zh") -> tuple[bytes, str]:
    """The file's bytes and its media type."""
    if fmt == "csv":
        return to_csv(report, lang=lang), CSV_TYPE
    if fmt == "xlsx":
        return to_xlsx(report, lang=lang), XLSX_TYPE
    from hotline.errors import Invalid

    raise Invalid(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}", field="format")


def filename(report: Report, fmt: str) -> str:
    return f"ticket-stats-{report.start.isoformat()}-{report.end.isoformat()}.{fmt}"


async def export_stats(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    *,
    start: date,
    end: date,
    out: Path,
    fmt: str = "csv",
    group_by: Sequence[str] = ("unit", "type"),
    unit: str | None = None,
    type_code: str | None = None,
    lang: str = "zh",
) -> Report:
    """Make the report of the whole tenant (the CLI has no reader scope) and write it to ``out``."""
    from hotline.utility.payments import tenant_zone

    async with transaction(factory) as s:
        tz = await tenant_zone(s, tenant_id)
        u = await org.get_unit(s, tenant_id, unit) if unit else None
        report = await stats.compute(
            s, tenant_id, start=start, end=end, tz=tz, group_by=group_by, unit=u, type_code=type_code
        )
    data, _ = render(report, fmt, lang=lang)
    await asyncio.to_thread(out.write_bytes, data)
    return report
