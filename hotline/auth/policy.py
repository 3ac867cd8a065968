"""Access policy: the one place where Hotline decides who may do what to which data.

A user holds role grants. Each grant gives the role's permissions over a *data scope*
anchored at a unit:

- ``own``     — records the user owns (their own user record; customers they are the
                dedicated agent of; later: their calls and work orders);
- ``unit``    — records of the anchor unit itself;
- ``subtree`` — records of the anchor unit and every unit below it;
- ``tenant``  — every record of the tenant.

A user may do an action when *any* grant whose role has the permission covers the record.
Records of another tenant are never covered. The matrix is documented in ``docs/access.md``;
a test checks the API against that document.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hotline.errors import Forbidden, Invalid


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    QA = "qa"
    KNOWLEDGE_EDITOR = "knowledge_editor"
    HANDLER = "handler"
    VIEWER = "viewer"


class Scope(StrEnum):
    OWN = "own"
    UNIT = "unit"
    SUBTREE = "subtree"
    TENANT = "tenant"


class Perm(StrEnum):
    UNIT_READ = "unit.read"
    UNIT_WRITE = "unit.write"
    USER_READ = "user.read"
    USER_WRITE = "user.write"
    CUSTOMER_READ = "customer.read"
    CUSTOMER_WRITE = "customer.write"
    AUDIT_READ = "audit.read"
    EXTENSION_READ = "extension.read"
    EXTENSION_WRITE = "extension.write"
    CALL_READ = "call.read"
    IVR_READ = "ivr.read"
    IVR_WRITE = "ivr.write"
    QUEUE_READ = "queue.read"
    QUEUE_WRITE = "queue.write"
    AGENT_READ = "agent.read"
    AGENT_CONTROL = "agent.control"
    CALL_CONTROL = "call.control"
    CALL_SUPERVISE = "call.supervise"
    MESSAGE_SEND = "message.send"
    STATS_READ = "stats.read"
    WEBHOOK_WRITE = "webhook.write"
    #: private customer fields (ID number, …) without the caller's verification
    CUSTOMER_PRIVATE = "customer.private"
    BILLING_READ = "billing.read"
    #: record payments (agent-assisted), enter meter readings
    BILLING_WRITE = "billing.write"
    #: tariffs and bill runs (tenant-wide)
    TARIFF_WRITE = "tariff.write"
    OUTAGE_WRITE = "outage.write"
    #: work orders: read; create, dispatch, urge, revisit (center agents); handle in the unit
    #: (acknowledge, start, hold, resume, reply, forward); review (review, return, cancel, merge,
    #: archive, reopen); administer types, SLA policy and dispatch rules (tenant-wide)
    TICKET_READ = "ticket.read"
    TICKET_WRITE = "ticket.write"
    TICKET_HANDLE = "ticket.handle"
    TICKET_REVIEW = "ticket.review"
    TICKET_ADMIN = "ticket.admin"


P = Perm
ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.SUPERVISOR: frozenset(
        {
            P.UNIT_READ,
            P.USER_READ,
            P.CUSTOMER_READ,
            P.EXTENSION_READ,
            P.CALL_READ,
            P.IVR_READ,
            P.QUEUE_READ,
            P.AGENT_READ,
            P.AGENT_CONTROL,
            P.CALL_CONTROL,
            P.CALL_SUPERVISE,
            P.MESSAGE_SEND,
            P.STATS_READ,
            P.BILLING_READ,
            P.OUTAGE_WRITE,
            P.TICKET_READ,
            P.TICKET_WRITE,
            P.TICKET_HANDLE,
            P.TICKET_REVIEW,
        }
    ),
    Role.AGENT: frozenset(
        {
            P.UNIT_READ,
            P.USER_READ,
            P.CUSTOMER_READ,
            P.CUSTOMER_WRITE,
            P.EXTENSION_READ,
            P.CALL_READ,
            P.QUEUE_READ,
            P.AGENT_READ,
            P.CALL_CONTROL,
            P.MESSAGE_SEND,
            P.STATS_READ,
            P.BILLING_READ,
            P.BILLING_WRITE,
            P.TICKET_READ,
            P.TICKET_WRITE,
        }
    ),
    Role.QA: frozenset(
        {
            P.UNIT_READ,
            P.USER_READ,
            P.CUSTOMER_READ,
            P.CALL_READ,
            P.QUEUE_READ,
            P.AGENT_READ,
            P.STATS_READ,
            P.BILLING_READ,
            P.TICKET_READ,
        }
    ),
    Role.KNOWLEDGE_EDITOR: frozenset({P.UNIT_READ}),
    Role.HANDLER: frozenset({P.UNIT_READ, P.CUSTOMER_READ, P.BILLING_READ, P.TICKET_READ, P.TICKET_HANDLE}),
    Role.VIEWER: frozenset({P.UNIT_READ, P.USER_READ, P.QUEUE_READ, P.AGENT_READ, P.STATS_READ}),
}

#: Scope given when a grant does not name one.
DEFAULT_SCOPE: dict[Role, Scope] = {
    Role.ADMIN: Scope.TENANT,
    Role.SUPERVISOR: Scope.SUBTREE,
    Role.AGENT: Scope.SUBTREE,
    Role.QA: Scope.SUBTREE,
    Role.KNOWLEDGE_EDITOR: Scope.TENANT,
    Role.HANDLER: Scope.UNIT,
    Role.VIEWER: Scope.SUBTREE,
}

#: Path of tenant-wide objects (calendars, the tenant itself): only ``tenant`` scope covers it.
TENANT_PATH = "/"


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise Invalid(
            f"unknown role {text!r}; roles are: {', '.join(r.value for r in Role)}", field="role"
        ) from None


def parse_scope(text: str) -> Scope:
    try:
        return Scope(text)
    except ValueError:
        raise Invalid(
            f"unknown scope {text!r}; scopes are: {', '.join(s.value for s in Scope)}", field="scope"
        ) from None


@dataclass(frozen=True)
class Grant:
    role: Role
    scope: Scope
    unit_id: int
    unit_path: str  # materialised path of the anchor unit, e.g. "/1/4/"

    def covers(self, principal_id: int, resource: Resource) -> bool:
        if self.scope is Scope.TENANT:
            return True
        if self.scope is Scope.SUBTREE:
            return resource.unit_path.startswith(self.unit_path)
        if self.scope is Scope.UNIT:
            return resource.unit_path == self.unit_path
        return resource.owner_id is not None and resource.owner_id == principal_id


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the policy sees them."""

    user_id: int
    tenant_id: int
    username: str
    unit_id: int
    grants: tuple[Grant, ...]
    ip: str = ""

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def grants_for(self, perm: Perm) -> list[Grant]:
        return [g for g in self.grants if perm in ROLE_PERMISSIONS[g.role]]


@dataclass(frozen=True)
class Resource:
    """What the policy needs to know about a record: its tenant, unit path and owner."""

    type: str
    tenant_id: int
    unit_path: str
    owner_id: int | None = None
    id: str = ""


@dataclass(frozen=True)
class DataScope:
    """The records a principal may touch for one permission, for filtering list queries."""

    everything: bool
    unit_paths: frozenset[str]  # exact units
    unit_prefixes: frozenset[str]  # subtrees
    owner_id: int | None  # records owned by this user

    @property
    def empty(self) -> bool:
        return not (self.everything or self.unit_paths or self.unit_prefixes or self.owner_id is not None)


def allows(principal: Principal, perm: Perm, resource: Resource) -> bool:
    if resource.tenant_id != principal.tenant_id:
        return False
    return any(g.covers(principal.user_id, resource) for g in principal.grants_for(perm))


def can_at_all(principal: Principal, perm: Perm) -> bool:
    return bool(principal.grants_for(perm))


def require(principal: Principal, perm: Perm, resource: Resource) -> None:
    if not allows(principal, perm, resource):
        raise Forbidden(f"{perm} is not granted on {resource.type} {resource.id}".rstrip())


def data_scope(principal: Principal, perm: Perm) -> DataScope:
    everything = False
    exact: set[str] = set()
    prefixes: set[str] = set()
    owner: int | None = None
    for g in principal.grants_for(perm):
        if g.scope is Scope.TENANT:
            everything = True
        elif g.scope is Scope.SUBTREE:
            prefixes.add(g.unit_path)
        elif g.scope is Scope.UNIT:
            exact.add(g.unit_path)
        else:
            owner = principal.user_id
    return DataScope(everything, frozenset(exact), frozenset(prefixes), owner)


def grantable(granter: Principal, role: Role, scope: Scope, anchor_path: str) -> bool:
    """A user administrator may hand out only what their own user.write grants cover.

    Giving ``tenant`` scope, or any ``admin`` grant, needs ``user.write`` at tenant scope;
    otherwise the anchor unit must lie within one of the granter's user.write scopes, and a
    granter limited to one unit cannot hand out a subtree.
    """
    grants = granter.grants_for(Perm.USER_WRITE)
    if any(g.scope is Scope.TENANT for g in grants):
        return True
    if role is Role.ADMIN or scope is Scope.TENANT:
        return False
    probe = Resource("unit", granter.tenant_id, anchor_path)
    for g in grants:
        if g.scope is Scope.SUBTREE and g.covers(granter.user_id, probe):
            return True
        if g.scope is Scope.UNIT and g.covers(granter.user_id, probe) and scope is not Scope.SUBTREE:
            return True
    return False
