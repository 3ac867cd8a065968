"""Attachments: sniffing, type and size checks, durable storage with dedup, binding."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hotline.config import TicketsSettings
from hotline.errors import Invalid, NotFound
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.tickets import attachments as att
from hotline.tickets import service as svc
from hotline.tickets.attachments import DOCX, XLSX, TooLarge

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(50)
JPEG = b"\xff\xd8\xff\xe0" + bytes(100)
PDF = b"%PDF-1.7\n" + b"1 0 obj\n" * 10
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40)
MP3 = b"ID3\x04\x00" + bytes(60)


def _zip(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(n, "<x/>")
    return buf.getvalue()


XLSX_BYTES = _zip(["[Content_Types].xml", "xl/workbook.xml"])
DOCX_BYTES = _zip(["[Content_Types].xml", "word/document.xml"])
ALLOWED = TicketsSettings().attachment_types


def test_sniff() -> None:
    assert att.sniff(PNG) == "image/png"
    assert att.sniff(JPEG) == "image/jpeg"
    assert att.sniff(PDF) == "application/pdf"
    assert att.sniff(WAV) == "audio/wav"
    assert att.sniff(WEBP) == "image/webp"
    assert att.sniff(MP3) == "audio/mpeg"
    assert att.sniff(b"\xff\xfb\x90\x00" + bytes(10)) == "audio/mpeg"
    assert att.sniff(XLSX_BYTES) == XLSX
    assert att.sniff(DOCX_BYTES) == DOCX
    assert att.sniff(_zip(["a.txt"])) == "application/zip"
    assert att.sniff("现场照片说明\n第二行\t完".encode()) == "text/plain"
    assert att.sniff(b"\x00\x01\x02binary") == "application/octet-stream"
    assert att.sniff("ok".encode("utf-16")) == "application/octet-stream"
    assert att.clean_filename("../../etc/passwd") == "passwd"
    assert att.clean_filename("C:\\x\\照片 1.jpg") == "照片 1.jpg"
    assert att.clean_filename("") == "attachment"
    assert att.normalize_type("image/JPG; q=1") == "image/jpeg"


async def _tenant(factory: Any) -> tuple[int, int]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        await org.add_unit(s, t.id, "center", "Center")
        o = await org.add_tenant(s, "other", "Other")
        await org.add_unit(s, o.id, "x", "X")
        return t.id, o.id


async def _store(factory: Any, tid: int, root: Path, name: str, ctype: str, data: Any, **kw: Any) -> Any:
    async with transaction(factory) as s:
        return await att.store_upload(
            s,
            tid,
            root=root,
            filename=name,
            content_type=ctype,
            data=data,
            max_bytes=kw.get("max_bytes", 10_000),
            allowed_types=kw.get("allowed", ALLOWED),
            user_id=None,
        )


async def test_upload_checks_and_dedup(factory: Any, tmp_path: Path) -> None:
    tid, other = await _tenant(factory)
    root = tmp_path / "data"
    a = await _store(factory, tid, root, "site.png", "image/png", PNG)
    assert (a.content_type, a.size, a.ticket_id) == ("image/png", len(PNG), None)
    stored = root / "attachments" / a.sha256[:2] / a.sha256
    assert stored.read_bytes() == PNG
    # the same bytes again: a second row, one file
    b = await _store(factory, tid, root, "again.png", "application/octet-stream", PNG)
    assert b.id != a.id and b.sha256 == a.sha256 and b.content_type == "image/png"
    assert len(list((root / "attachments").rglob("*"))) == 3  # tmp/, aa/, the file

    # streamed, in chunks
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(XLSX_BYTES), 7):
            yield XLSX_BYTES[i : i + 7]

    x = await _store(factory, tid, root, "台账.xlsx", XLSX, chunks())
    assert x.content_type == XLSX and x.size == len(XLSX_BYTES)
    t = await _store(factory, tid, root, "说明.txt", "text/plain; charset=utf-8", "现场已处理".encode())
    assert t.content_type == "text/plain"
    # refusals: a .png that is not a PNG, a declared type that lies, a type not accepted, too big, empty
    with pytest.raises(Invalid, match="declared as image/png but the content is application/pdf") as e:
        await _store(factory, tid, root, "fake.png", "image/png", PDF)
    assert e.value.status == 422 and e.value.field == "file"
    with pytest.raises(Invalid, match="the name says image/png"):
        await _store(factory, tid, root, "fake.png", "application/octet-stream", PDF)
    with pytest.raises(Invalid, match=r"not accepted \(detected unrecognised binary data"):
        await _store(factory, tid, root, "x.bin", "application/octet-stream", b"\x00\x01\x02")
    with pytest.raises(Invalid, match=r"not accepted \(detected application/zip"):
        await _store(factory, tid, root, "x.zip", "application/zip", _zip(["a"]))
    with pytest.raises(Invalid, match="not accepted"):
        await _store(factory, tid, root, "a.png", "image/png", PNG, allowed=["application/pdf"])
    with pytest.raises(TooLarge) as big:
        await _store(factory, tid, root, "big.pdf", "application/pdf", PDF + bytes(20_000))
    assert big.value.status == 413 and "10000 bytes" in big.value.detail
    with pytest.raises(Invalid, match="empty"):
        await _store(factory, tid, root, "e.txt", "text/plain", b"")
    assert list((root / "attachments" / "tmp").iterdir()) == []  # no temp files left behind
    # download; other tenants see nothing
    async with transaction(factory) as s:
        row, path = await att.open_attachment(s, tid, a.id, root=root)
        assert path.read_bytes() == PNG and row.filename == "site.png"
        with pytest.raises(NotFound):
            await att.open_attachment(s, other, a.id, root=root)


async def _consultation(s: Any, tid: int, attachments: list[str]) -> Any:
    """A consultation order of the system naming ``attachments``."""
    return await svc.create_ticket(
        s,
        tid,
        type_code="consultation",
        actor=svc.Actor(None, "system"),
        subject="s",
        description="d",
        contact_phone="13900001111",
        attachments=attachments,
    )


async def test_bind_on_create_and_action(factory: Any, tmp_path: Path) -> None:
    tid, other = await _tenant(factory)
    root = tmp_path
    a = await _store(factory, tid, root, "a.jpg", "image/jpeg", JPEG)
    b = await _store(factory, tid, root, "b.pdf", "application/pdf", PDF)
    foreign = await _store(factory, other, root, "c.pdf", "application/pdf", PDF)
    actor = svc.Actor(None, "system")
    base: dict[str, Any] = {
        "type_code": "consultation",
        "actor": actor,
        "subject": "s",
        "description": "d",
        "contact_phone": "13900001111",
    }
    async with transaction(factory) as s:
        ch = await svc.create_ticket(s, tid, **base, attachments=[a.id])
        assert ch.entry is not None and ch.entry.attachments == [a.id]
        tk = ch.ticket
    async with transaction(factory) as s:
        assert [r.id for r in await att.list_for_ticket(s, tid, tk.id)] == [a.id]
    # a foreign or unknown id is refused; a second ticket cannot take an attachment (each attempt
    # rolls back)
    for ids, where in (
        ([foreign.id], "attachments[0]"),
        ([b.id, "nope"], "attachments[1]"),
        ([a.id], "attachments[0]"),
    ):
        with pytest.raises(Invalid) as e:
            async with transaction(factory) as s:
                await svc.create_ticket(s, tid, **base, attachments=ids)
        assert e.value.field == where
    async with transaction(factory) as s:
        from hotline.tickets.workflow import Command

        ch = await svc.act(
            s,
            tid,
            tk.id,
            Command("dispatch", "x", attachments=(b.id,), payload={"unit": "center"}, expected_version=1),
            actor=actor,
        )
        assert ch.entry is not None and ch.entry.attachments == [b.id]
    async with transaction(factory) as s:
        assert {r.id for r in await att.list_for_ticket(s, tid, tk.id)} == {a.id, b.id}
        assert att.attachment_doc(a)["filename"] == "a.jpg"


async def test_uploads_never_attached_are_swept(factory: Any, tmp_path: Path) -> None:
    import os
    from datetime import timedelta

    from sqlalchemy import select, update

    from hotline.store.models import TicketAttachment
    from hotline.store.types import utcnow
    from hotline.tickets.sweeper import _remove_unused, sweep_uploads

    tid, _other = await _tenant(factory)
    root = tmp_path
    bound = await _store(factory, tid, root, "a.jpg", "image/jpeg", JPEG)
    lone = await _store(factory, tid, root, "b.pdf", "application/pdf", PDF)  # never attached
    await _store(factory, tid, root, "twin.jpg", "image/jpeg", JPEG)  # same bytes as the bound one
    fresh = await _store(factory, tid, root, "c.png", "image/png", PNG)  # unbound, but recent
    async with transaction(factory) as s:
        ch = await _consultation(s, tid, [bound.id])
    # two days pass for all but the fresh one (rows and files)
    old = utcnow() - timedelta(days=2)
    async with transaction(factory) as s:
        await s.execute(
            update(TicketAttachment).where(TicketAttachment.id != fresh.id).values(created_at=old)
        )
    for a in (bound, lone):
        os.utime(att.attachments_dir(root) / a.sha256[:2] / a.sha256, (old.timestamp(), old.timestamp()))

    def path(a: Any) -> Path:
        return att.attachments_dir(root) / a.sha256[:2] / a.sha256

    got = await sweep_uploads(factory, root, max_age=timedelta(hours=24))
    assert (got.rows, got.files, got.bytes) == (2, 1, len(PDF))  # the lone PDF and the twin's row
    async with factory() as s:
        left = set(await s.scalars(select(TicketAttachment.id)))
    assert left == {bound.id, fresh.id}
    # the bound order's file stays (the twin had the same bytes); the lone one's is gone
    assert path(bound).read_bytes() == JPEG and not path(lone).exists() and path(fresh).exists()
    async with transaction(factory) as s:
        assert [r.id for r in await att.list_for_ticket(s, tid, ch.ticket.id)] == [bound.id]
    assert (await sweep_uploads(factory, root, max_age=timedelta(hours=24))).rows == 0
    # an old file whose bytes are uploaded again is touched by the upload, so a sweep that finds
    # no row for it (the new row not committed yet) leaves it
    lone2 = await _store(factory, tid, root, "b2.pdf", "application/pdf", PDF)
    os.utime(path(lone2), (old.timestamp(), old.timestamp()))
    again = await _store(factory, tid, root, "b3.pdf", "application/pdf", PDF)
    assert path(again).stat().st_mtime > old.timestamp() + 3600
    assert (
        _remove_unused(att.attachments_dir(root), again.sha256, (utcnow() - timedelta(hours=24)).timestamp())
        == 0
    )
    assert path(again).read_bytes() == PDF and not path(again).with_name(again.sha256 + ".del").exists()


def test_a_file_touched_while_swept_is_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    from hotline.tickets import sweeper

    digest = "ab" + "0" * 62
    (tmp_path / "ab").mkdir()
    f = tmp_path / "ab" / digest
    f.write_bytes(PDF)
    old = time.time() - 3 * 86400
    os.utime(f, (old, old))
    cutoff = time.time() - 86400
    real = os.replace
    calls: list[tuple[Path, Path]] = []

    def touched_first(src: Any, dst: Any) -> None:  # an upload of the same bytes touches it now
        if not calls:
            os.utime(src)
        calls.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(sweeper.os, "replace", touched_first)
    assert sweeper._remove_unused(tmp_path, digest, cutoff) == 0
    assert f.read_bytes() == PDF and len(calls) == 2  # set aside, then put back
    monkeypatch.setattr(sweeper.os, "replace", real)
    os.utime(f, (old, old))
    assert sweeper._remove_unused(tmp_path, digest, cutoff) == len(PDF) and not f.exists()
    assert sweeper._remove_unused(tmp_path, digest, cutoff) == 0  # already gone
    assert list((tmp_path / "ab").iterdir()) == []


async def test_a_sweep_racing_a_create_leaves_what_the_create_binds(factory: Any, tmp_path: Path) -> None:
    """The sweep deletes an old unbound upload while a create is binding it (after the create
    read the row, before it wrote the binding): the create's read locks the row, so the sweep
    waits for the create and then finds the upload bound."""
    import asyncio
    from datetime import timedelta

    from sqlalchemy import select, update

    from hotline.store.models import TicketAttachment
    from hotline.store.types import utcnow
    from hotline.tickets.sweeper import sweep_uploads

    tid, _other = await _tenant(factory)
    a = await _store(factory, tid, tmp_path, "a.jpg", "image/jpeg", JPEG)
    async with transaction(factory) as s:
        await s.execute(update(TicketAttachment).values(created_at=utcnow() - timedelta(days=2)))
    sweep: asyncio.Task[Any] | None = None
    async with transaction(factory) as s:
        real_flush = s.flush

        async def flush_after_a_sweep(*args: Any, **kw: Any) -> None:
            nonlocal sweep
            if sweep is None and any(isinstance(o, TicketAttachment) for o in s.dirty):
                sweep = asyncio.create_task(sweep_uploads(factory, tmp_path, max_age=timedelta(hours=24)))
                await asyncio.sleep(0.5)  # the sweep runs meanwhile, as far as it can
            await real_flush(*args, **kw)

        s.flush = flush_after_a_sweep  # type: ignore[method-assign]
        ch = await _consultation(s, tid, [a.id])
    assert sweep is not None
    swept = await asyncio.wait_for(sweep, 30)
    assert swept.rows == 0
    async with factory() as s:
        row = await s.scalar(select(TicketAttachment).where(TicketAttachment.id == a.id))
    assert row is not None and row.ticket_id == ch.ticket.id
    assert (att.attachments_dir(tmp_path) / a.sha256[:2] / a.sha256).read_bytes() == JPEG
