"""Attachments of work orders: upload (type- and size-checked, durable), bind, download.

Upload first: :func:`store_upload` streams the bytes to a temporary file (refusing more than
``max_bytes`` with :class:`TooLarge`, 413), sniffs the type from the magic bytes
(:func:`sniff`), checks it against the declared type, the file name's extension and the allowed
list (:class:`hotline.errors.Invalid`, 422, naming the detected type), then moves the file to
``<data_dir>/attachments/<sha[:2]>/<sha256>`` (the same bytes are stored once) and fsyncs file and
directory — all before the row is added, so a committed row always has its bytes. The row has
``ticket_id`` None until a create or an action names its id (:func:`bind`).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Invalid, NotFound
from hotline.store.models import TicketAttachment

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
OCTET = "application/octet-stream"

#: declared types that name the same thing
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "application/x-pdf": "application/pdf",
}
#: what a file name's extension says the type is
EXTENSIONS = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "txt": "text/plain",
    "log": "text/plain",
    "csv": "text/plain",
    "xlsx": XLSX,
    "docx": DOCX,
    "zip": "application/zip",
}
SNIFF_BYTES = 4096
CHUNK = 256 * 1024


class TooLarge(Invalid):
    """The upload is bigger than the limit (413)."""

    status = 413
    title = "Payload too large"


def attachments_dir(data_dir: Path) -> Path:
    return data_dir / "attachments"


def normalize_type(content_type: str | None) -> str:
    t = (content_type or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(t, t)


def _mpeg_frame(b: bytes) -> bool:
    """An MPEG audio frame header: sync bits, no reserved version, layer, bitrate or rate."""
    if len(b) < 4 or b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return False
    version, layer = (b[1] >> 3) & 3, (b[1] >> 1) & 3
    bitrate, rate = b[2] >> 4, (b[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def sniff_head(head: bytes) -> str | None:
    """The type the first bytes show (None: not decided by the head alone)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"ID3") or _mpeg_frame(head):
        return "audio/mpeg"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return None


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return OCTET
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    return "application/zip"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class _TextCheck:
    """Incremental: is the whole stream UTF-8 text without control characters?"""

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")()
        self.ok = True

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if not self.ok:
            return
        try:
            text = self._dec.decode(chunk, final)
        except UnicodeDecodeError:
            self.ok = False
            return
        if _CONTROL.search(text):
            self.ok = False


def sniff(data: bytes) -> str:
    """The type of a whole file's bytes (tests and small files; uploads stream)."""
    kind = sniff_head(data[:SNIFF_BYTES])
    if kind == "application/zip":
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            return _zip_kind(Path(f.name))
    if kind:
        return kind
    check = _TextCheck()
    check.feed(data, True)
    return "text/plain" if check.ok and data else OCTET


def clean_filename(name: str) -> str:
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if ch.isprintable()).strip().strip(".")
    if len(base) > 255:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) <= 16 else base[:255]
    return base or "attachment"


def _open_temp(base: Path) -> tuple[int, Path]:
    tmpdir = base / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmpdir, prefix="up-")
    return fd, Path(name)


def _sync_file(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _discard(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def _place(tmp: Path, base: Path, digest: str, size: int) -> None:
    """Move the synced temporary file to its content address (once per content) and sync the
    directory, so the name survives a crash too."""
    final_dir = base / digest[:2]
    final_dir.mkdir(parents=True, exist_ok=True)
    final = final_dir / digest
    if final.exists() and final.stat().st_size == size:
        try:
            # in use again: the upload sweeper leaves files touched within its age limit alone
            os.utime(final)
        except FileNotFoundError:
            pass  # swept meanwhile: this copy takes its place
        else:
            tmp.unlink()
            return
    os.replace(tmp, final)
    _fsync_dir(final_dir)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


async def _chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterable[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        b = bytes(data)
        for i in range(0, len(b), CHUNK):
            yield b[i : i + CHUNK]
        return
    async for chunk in data:
        if chunk:
            yield bytes(chunk)


def check_type(filename: str, declared: str, detected: str, allowed: Sequence[str]) -> str:
    """The stored content type, or :class:`Invalid` (422) naming the detected type."""
    allowed_set = {normalize_type(a) for a in allowed}
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    by_ext = EXTENSIONS.get(ext)
    if detected not in allowed_set:
        what = "unrecognised binary data" if detected == OCTET else detected
        raise Invalid(
            f"{filename}: files of this type are not accepted (detected {what}); "
            f"accepted: {', '.join(sorted(allowed_set))}",
            field="file",
        )
    if declared and declared != OCTET and declared != detected:
        raise Invalid(f"{filename}: declared as {declared} but the content is {detected}", field="file")
    if by_ext is not None and by_ext != detected:
        raise Invalid(
            f"{filename}: the name says {by_ext} (.{ext}) but the content is {detected}", field="file"
        )
    return detected


async def store_upload(
    s: AsyncSession,
    tenant_id: int,
    *,
    root: Path,
    filename: str,
    content_type: str | None,
    data: bytes | AsyncIterable[bytes],
    max_bytes: int,
    allowed_types: Sequence[str],
    user_id: int | None,
) -> TicketAttachment:
    """Store an upload (``root`` is the data directory) and add its unbound row (flushed, in the
    caller's transaction). :class:`TooLarge` (413) above ``max_bytes``, :class:`Invalid` (422)
    for an empty file or a type not accepted."""
    name = clean_filename(filename)
    declared = normalize_type(content_type)
    base = attachments_dir(root)
    fd, tmp = await asyncio.to_thread(_open_temp, base)
    sha = hashlib.sha256()
    size = 0
    head = b""
    text = _TextCheck()
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in _chunks(data):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        f"{name}: the file is larger than the limit of {max_bytes} bytes", field="file"
                    )
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                sha.update(chunk)
                text.feed(chunk)
                await asyncio.to_thread(f.write, chunk)
            text.feed(b"", True)
            if size == 0:
                raise Invalid(f"{name}: the file is empty", field="file")
            await asyncio.to_thread(_sync_file, f)
        detected = sniff_head(head)
        if detected == "application/zip":
            detected = await asyncio.to_thread(_zip_kind, tmp)
        elif detected is None:
            detected = "text/plain" if text.ok else OCTET
        ctype = check_type(name, declared, detected, allowed_types)
        digest = sha.hexdigest()
        await asyncio.to_thread(_place, tmp, base, digest, size)
    except BaseException:
        await asyncio.to_thread(_discard, tmp)
        raise
    row = TicketAttachment(
        id=secrets.token_hex(16),
        tenant_id=tenant_id,
        ticket_id=None,
        filename=name,
        content_type=ctype,
        size=size,
        sha256=digest,
        uploaded_by=user_id,
    )
    s.add(row)
    await s.flush()
    return row


async def bind(s: AsyncSession, tenant_id: int, ticket_id: int, ids: Sequence[str]) -> list[TicketAttachment]:
    """Bind the uploads ``ids`` to the ticket: each must be the tenant's and unbound or already
    this ticket's (:class:`Invalid` naming ``attachments[i]`` otherwise)."""
    if not ids:
        return []
    # locked (PostgreSQL) from this read on: the upload sweeper's delete of an unbound row waits
    # for this transaction and then finds the row bound (SQLite has one writer)
    rows = {
        r.id: r
        for r in (
            await s.scalars(
                select(TicketAttachment)
                .where(TicketAttachment.tenant_id == tenant_id, TicketAttachment.id.in_(list(ids)))
                .with_for_update()
            )
        ).all()
    }
    out = []
    for i, a in enumerate(ids):
        row = rows.get(a)
        if row is None:
            raise Invalid(f"attachments[{i}]: no uploaded attachment {a!r}", field=f"attachments[{i}]")
        if row.ticket_id is not None and row.ticket_id != ticket_id:
            raise Invalid(
                f"attachments[{i}]: attachment {a!r} belongs to another ticket", field=f"attachments[{i}]"
            )
        out.append(row)
    for row in out:
        row.ticket_id = ticket_id
    await s.flush()
    return out


async def get_attachment(s: AsyncSession, tenant_id: int, attachment_id: str) -> TicketAttachment:
    row = await s.scalar(
        select(TicketAttachment).where(
            TicketAttachment.tenant_id == tenant_id, TicketAttachment.id == attachment_id
        )
    )
    if row is None:
        raise NotFound(f"no attachment {attachment_id!r}", field="attachment")
    return row


async def open_attachment(
    s: AsyncSession, tenant_id: int, attachment_id: str, *, root: Path
) -> tuple[TicketAttachment, Path]:
    """The row and the path of its bytes (``root`` is the data directory); NotFound for other
    tenants' attachments or missing bytes."""
    row = await get_attachment(s, tenant_id, attachment_id)
    path = attachments_dir(root) / row.sha256[:2] / row.sha256
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"the bytes of attachment {attachment_id!r} are missing", field="attachment")
    return row, path


async def list_for_ticket(s: AsyncSession, tenant_id: int, ticket_id: int) -> list[TicketAttachment]:
    q = (
        select(TicketAttachment)
        .where(TicketAttachment.tenant_id == tenant_id, TicketAttachment.ticket_id == ticket_id)
        .order_by(TicketAttachment.created_at, TicketAttachment.id)
    )
    return list((await s.scalars(q)).all())


def attachment_doc(row: TicketAttachment) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticket_id": row.ticket_id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "uploaded_by": row.uploaded_by,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
