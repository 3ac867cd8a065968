"""Per-request context: the database, the settings and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import audit
from hotline.auth import sessions
from hotline.auth.policy import Perm, Principal, Resource, allows, can_at_all
from hotline.auth.users import principal_for
from hotline.config import Settings
from hotline.cti.center import ContactCenter
from hotline.cti.service import Telephony
from hotline.errors import Forbidden, HotlineError, Unauthorized
from hotline.store.cache import Cache
from hotline.store.db import transaction
from hotline.store.models import AuthSession, User
from hotline.store.types import utcnow
from hotline.web.metrics import Metrics

SESSION_COOKIE = "hotline_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    metrics: Metrics
    #: the running telephony service (None when SIP is disabled)
    telephony: Telephony | None = None
    #: ACD, agent sessions, IVR flows, the queue event log (always running)
    center: ContactCenter | None = None


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.hotline
    return state


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass(frozen=True)
class Ctx:
    """What an authenticated API handler gets."""

    principal: Principal
    session: AuthSession
    state: AppState

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        return self.state.db

    @property
    def tenant_id(self) -> int:
        return self.principal.tenant_id

    async def authorize(self, perm: Perm, resource: Resource) -> None:
        """Allow, or audit the refusal and raise 403."""
        if not allows(self.principal, perm, resource):
            await self.deny(perm, resource.type, resource.id)

    async def require_any(self, perm: Perm, resource_type: str) -> None:
        """The principal holds ``perm`` in some scope (for list endpoints, filtered afterwards)."""
        if not can_at_all(self.principal, perm):
            await self.deny(perm, resource_type, "")

    async def deny(self, perm: Perm, resource_type: str, resource_id: str) -> None:
        async with transaction(self.db) as s:
            audit.record(
                s,
                str(perm),
                principal=self.principal,
                resource_type=resource_type,
                resource_id=resource_id,
                outcome="denied",
            )
        what = f"{resource_type} {resource_id}".strip()
        raise Forbidden(f"permission {perm} is not granted on {what}")


async def sign_in(
    request: Request, state: AppState, *, tenant: str | None, username: str, password: str, kind: str
) -> sessions.Issued:
    """Check the password (counting and auditing failures) and open an API or browser session."""
    ip = client_ip(request)
    try:
        user_id = await sessions.authenticate(
            state.db,
            tenant=tenant,
            username=username,
            password=password,
            ip=ip,
            security=state.settings.security,
        )
    except HotlineError:
        state.metrics.logins.labels("fail").inc()
        raise
    state.metrics.logins.labels("ok").inc()
    sec = state.settings.security
    hours = sec.token_hours if kind == "api" else sec.session_hours
    async with transaction(state.db) as s:
        user = await s.get_one(User, user_id)
        return await sessions.issue(
            s,
            user,
            kind=kind,
            lifetime=timedelta(hours=hours),
            ip=ip,
            user_agent=request.headers.get("user-agent", ""),
        )


async def authenticated(request: Request) -> Ctx:
    """Bearer token (API clients) or session cookie (the browser; unsafe methods need CSRF)."""
    state = app_state(request)
    header = request.headers.get("authorization", "")
    via_cookie = False
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("Authorization header must be 'Bearer <token>'")
        raw = raw.strip()
    else:
        raw = request.cookies.get(SESSION_COOKIE, "")
        via_cookie = True
        if not raw:
            raise Unauthorized("not logged in: send 'Authorization: Bearer <token>' or log in")
    kind = "browser" if via_cookie else None
    key = (str(id(state.db)), sessions.token_hash(raw))

    async def load() -> tuple[AuthSession, User, Principal]:
        async with state.db() as s:
            row, user = await sessions.resolve(s, raw, kind=kind)
            return row, user, await principal_for(s, user)

    # checked on every request, whether read now, by a concurrent request or earlier
    row, user, principal = await _SIGNED_IN.fetch(key, load)
    sessions.check(row, user, kind=kind, now=utcnow())
    if (
        via_cookie
        and request.method not in SAFE_METHODS
        and not sessions.csrf_ok(row, request.headers.get(CSRF_HEADER))
    ):
        raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")
    return Ctx(principal=replace(principal, ip=client_ip(request)), session=row, state=state)


#: signed-in sessions by token: the session row, its user and their grants, re-checked (revoked,
#: expired, disabled, locked) on every request. A sign-out, a revocation, a disabled account or a
#: changed grant through this process is seen at once; through another server within ``ttl``
#: seconds (:mod:`hotline.store.cache`).
_SIGNED_IN: Cache[tuple[str, str], tuple[AuthSession, User, Principal]] = Cache(
    ("auth_sessions", "users", "role_grants", "units"), ttl=2.0, maxsize=50_000
)


CtxDep = Annotated[Ctx, Depends(authenticated)]
StateDep = Annotated[AppState, Depends(app_state)]
