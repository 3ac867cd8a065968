"""The rendered graph of an IVR flow version (SVG), for the administration pages and docs."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hotline.auth.policy import Perm
from hotline.errors import Conflict, NotFound
from hotline.ivr import FlowError
from hotline.ivr.graph import flow_svg
from hotline.ivr.loader import parse_flow
from hotline.web.api.ivr import center_of
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1/ivr", tags=["ivr"])

#: the SVG is our own escaped drawing; the header keeps any browser from running anything in it
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=60",
}


async def flow_graph(ctx: CtxDep, name: str, version: int | None, lang: str = "en") -> tuple[int, str]:
    """(version drawn, SVG) of the flow's active version or of ``version``."""
    await ctx.require_any(Perm.IVR_READ, "ivr_flow")
    async with ctx.db() as s:
        rows = await center_of(ctx).flows.versions(s, ctx.tenant_id, name)
    if not rows:
        raise NotFound(f"no flow {name!r}", field="name")
    chosen = next((r for r in rows if (r.version == version if version else r.active)), None)
    if chosen is None:
        if version is not None:
            raise NotFound(f"flow {name!r} has no version {version}", field="version")
        chosen = rows[-1]
    try:
        flow = parse_flow(chosen.source, source=f"{name} v{chosen.version}")
    except FlowError as exc:
        raise Conflict(
            f"flow {name!r} version {chosen.version} cannot be drawn: {exc}", field="version"
        ) from None
    return chosen.version, flow_svg(flow, lang)


@router.get(
    "/flows/{name}/graph.svg",
    response_class=Response,
    summary="The flow drawn as a graph (SVG): nodes by type, edges labelled with keys and conditions",
    responses={200: {"content": {"image/svg+xml": {}}, "description": "an SVG document"}},
)
async def graph_svg(
    name: str,
    ctx: CtxDep,
    version: int | None = Query(None, ge=1, le=2**31 - 1, description="default: the active version"),
    lang: str = Query("en", pattern="^(en|zh-CN)$", description="language of the labels"),
) -> Response:
    drawn, svg = await flow_graph(ctx, name, version, lang)
    return Response(svg, media_type="image/svg+xml", headers={**SVG_HEADERS, "X-Flow-Version": str(drawn)})
