"""An IVR flow drawn as an SVG graph (pure): nodes by type, edges labelled with keys,
conditions and timeouts.

Layout is a simple deterministic layered drawing, no layout engine: a node's layer is its BFS
depth from ``start`` (children in declaration order), nodes the start cannot reach go to one
last layer, layers are rows from top to bottom and each row keeps the BFS discovery order.
Forward edges are straight lines; edges back to the same or an earlier layer are arcs around
the right-hand side, so loops ("back to the main menu") stay readable. Every text is escaped.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from dataclasses import dataclass
from html import escape

from hotline.ivr.model import (
    ActionNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    MenuNode,
    QueueNode,
    SubflowNode,
    SwitchNode,
    TransferNode,
    VoicemailNode,
)

NODE_W = 164
NODE_H = 50
GAP_X = 26
GAP_Y = 78
MARGIN = 36

#: fill and stroke per node type (colour-blind friendly pairs; shape tells the kind too)
COLOURS: dict[str, tuple[str, str]] = {
    "play": ("#e8f1fb", "#0b6bcb"),
    "menu": ("#fff4d6", "#a66a00"),
    "collect": ("#fff4d6", "#a66a00"),
    "set": ("#eef0f3", "#5b6b7c"),
    "condition": ("#f3e8fb", "#7a3fa8"),
    "switch": ("#f3e8fb", "#7a3fa8"),
    "action": ("#e6f6ef", "#1b7f4c"),
    "subflow": ("#e6f6ef", "#1b7f4c"),
    "return": ("#eef0f3", "#1d2733"),
    "queue": ("#dff3f7", "#0d6e82"),
    "transfer": ("#dff3f7", "#0d6e82"),
    "voicemail": ("#fde8e6", "#b42318"),
    "callback": ("#fde8e6", "#b42318"),
    "hangup": ("#fde8e6", "#b42318"),
}
TERMINAL = frozenset({"return", "queue", "transfer", "hangup"})

#: the few words the drawing uses, per language (node ids, keys and conditions stay as written)
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "start": "start",
        "on_error": "on error",
        "ok": "ok",
        "failure": "failure",
        "no_key": "no valid key",
        "if": "if",
        "else": "else",
        "default": "default",
        "error": "error",
        "options": "options",
        "box": "box",
        "queue": "queue",
    },
    "zh-CN": {
        "start": "开始",
        "on_error": "出错时",
        "ok": "成功",
        "failure": "失败",
        "no_key": "无有效按键",
        "if": "若",
        "else": "否则",
        "default": "默认",
        "error": "出错",
        "options": "个选项",
        "box": "信箱",
        "queue": "队列",
    },
}


def _w(lang: str, key: str) -> str:
    return WORDS.get(lang, WORDS["en"])[key]


def text_width(text: str) -> int:
    """Display width in half-width cells (CJK and other wide characters count two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clip(text: str, cells: int) -> str:
    """``text`` cut to ``cells`` display cells, with an ellipsis when cut."""
    if text_width(text) <= cells:
        return text
    out, used = [], 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > cells - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def _secs(value: float) -> str:
    return f"{value:g}s"


def node_detail(node: object, lang: str = "en") -> str:
    """The second line of a node box: what the node does in a few words."""
    match node:
        case QueueNode():
            return f"→ {node.queue}" + (f" (p{node.priority})" if node.priority else "")
        case TransferNode():
            return f"→ {node.target}"
        case ActionNode():
            return node.action
        case SubflowNode():
            return f"⤷ {node.flow}"
        case CollectNode():
            return f"{node.variable} [{node.min_length}-{node.max_length}]"
        case MenuNode():
            sep = "" if lang == "zh-CN" else " "
            return f"{len(node.options)}{sep}{_w(lang, 'options')}, {_secs(node.timeout)}"
        case VoicemailNode():
            return f"{_w(lang, 'box')} {node.box}"
        case CallbackNode():
            return f"{_w(lang, 'queue')} {node.queue}"
        case SwitchNode():
            return node.value
        case ConditionNode():
            return node.when
    return ""


def edge_labels(node: object, lang: str = "en") -> list[tuple[str, str]]:
    """``(target, label)`` per outgoing edge, in declaration order."""
    out: list[tuple[str, str]] = []
    match node:
        case MenuNode():
            out += [(t, key) for key, t in node.options.items()]
            out.append(
                (node.on_max_retries, f"{_w(lang, 'no_key')} ×{node.max_retries + 1} ({_secs(node.timeout)})")
            )
        case CollectNode():
            out.append((node.next, _w(lang, "ok")))
            out.append(
                (
                    node.on_failure,
                    f"{_w(lang, 'failure')} ({_secs(node.first_digit_timeout)}/{_secs(node.inter_digit_timeout)})",
                )
            )
        case ConditionNode():
            out.append((node.then, f"{_w(lang, 'if')} {node.when}"))
            out.append((node.else_, _w(lang, "else")))
        case SwitchNode():
            out += [(t, f"= {key}") for key, t in node.cases.items()]
            out.append((node.default, _w(lang, "default")))
        case ActionNode():
            out.append((node.next, ""))
            if node.on_error:
                out.append((node.on_error, f"{_w(lang, 'error')} / {_secs(node.timeout)}"))
        case SubflowNode():
            out.append((node.next, ""))
            if node.on_error:
                out.append((node.on_error, _w(lang, "error")))
        case _:
            target = getattr(node, "next", None)
            if isinstance(target, str):
                out.append((target, ""))
    return out


@dataclass(frozen=True)
class Placed:
    id: str
    layer: int
    x: float
    y: float


def layers(flow: Flow) -> list[list[str]]:
    """Rows of node ids: BFS depth from ``start`` (children in edge order: keys first); unreachable nodes last, in declaration order."""
    depth: dict[str, int] = {}
    order: list[str] = []
    if flow.start in flow.nodes:
        depth[flow.start] = 0
        order.append(flow.start)
        todo = deque([flow.start])
        while todo:
            nid = todo.popleft()
            for target, _label in edge_labels(flow.nodes[nid]):
                if target in flow.nodes and target not in depth:
                    depth[target] = depth[nid] + 1
                    order.append(target)
                    todo.append(target)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for nid in order:
        rows[depth[nid]].append(nid)
    rest = [nid for nid in flow.nodes if nid not in depth]
    if rest:
        rows.append(rest)
    return rows


def layout(flow: Flow) -> tuple[dict[str, Placed], float, float]:
    """Node positions (top-left corners) and the drawing's width and height."""
    rows = layers(flow)
    widest = max((len(r) for r in rows), default=1)
    inner_w = widest * NODE_W + (widest - 1) * GAP_X
    width = inner_w + 2 * MARGIN + 90  # room on the right for arcs of back edges
    placed: dict[str, Placed] = {}
    for li, row in enumerate(rows):
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = MARGIN + (inner_w - row_w) / 2
        y = MARGIN + 24 + li * (NODE_H + GAP_Y)
        for i, nid in enumerate(row):
            placed[nid] = Placed(nid, li, x0 + i * (NODE_W + GAP_X), y)
    height = MARGIN * 2 + 24 + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    return placed, width, height


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _shape(node_type: str, x: float, y: float, fill: str, stroke: str) -> str:
    w, h = NODE_W, NODE_H
    sw = "2.5" if node_type in TERMINAL else "1.5"
    if node_type in ("condition", "switch"):
        d = 14
        pts = [
            (x + d, y),
            (x + w - d, y),
            (x + w, y + h / 2),
            (x + w - d, y + h),
            (x + d, y + h),
            (x, y + h / 2),
        ]
        points = " ".join(f"{_f(px)},{_f(py)}" for px, py in pts)
        return f'<polygon points="{points}" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
    rx = "22" if node_type in ("menu", "collect") else "6"
    return (
        f'<rect x="{_f(x)}" y="{_f(y)}" width="{w}" height="{h}" rx="{rx}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
    )


def flow_svg(flow: Flow, lang: str = "en") -> str:
    """The flow as a standalone SVG document (deterministic: same flow, same bytes); ``lang``
    (``en`` or ``zh-CN``) picks the words of edge labels and node details."""
    placed, width, height = layout(flow)
    parts: list[str] = []
    title = f"{flow.name} — {flow.description}" if flow.description else flow.name
    parts.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" width="{_f(width)}" '
        f'height="{_f(height)}" viewBox="0 0 {_f(width)} {_f(height)}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, Noto Sans CJK SC, sans-serif" '
        f'font-size="12">'
    )
    parts.append(f"<title>{escape(title)}</title>")
    parts.append(
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6b7c"/></marker>'
        "</defs>"
    )
    # entry arrow into the start node
    if flow.start in placed:
        s = placed[flow.start]
        cx = s.x + NODE_W / 2
        parts.append(
            f'<g class="start"><text x="{_f(cx)}" y="{_f(s.y - 30)}" text-anchor="middle" '
            f'fill="#5b6b7c">{_w(lang, "start")}</text><line x1="{_f(cx)}" y1="{_f(s.y - 24)}" x2="{_f(cx)}" '
            f'y2="{_f(s.y - 2)}" stroke="#5b6b7c" stroke-width="1.5" marker-end="url(#arrow)"/></g>'
        )
    # edges first (nodes are drawn over them); parallel edges share one line, labels joined
    back = 0
    labels_svg: list[str] = []  # drawn after every line, so no line crosses a label
    for nid, node in flow.nodes.items():
        merged: dict[str, list[str]] = {}
        for target, label in edge_labels(node, lang):
            merged.setdefault(target, [])
            if label:
                merged[target].append(label)
        src = placed[nid]
        forward = 0
        for target, labels in merged.items():
            label = clip(", ".join(labels), 26)
            dst = placed.get(target)
            attrs = f'data-from="{escape(nid)}" data-to="{escape(target)}"'
            if dst is None:  # a dangling target: the validator reports it; draw a stub
                x1, y1 = src.x + NODE_W / 2, src.y + NODE_H
                parts.append(
                    f'<g class="edge missing" {attrs}><line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x1)}" '
                    f'y2="{_f(y1 + 30)}" stroke="#b42318" stroke-dasharray="4 3" marker-end="url(#arrow)"/>'
                    f'<text x="{_f(x1 + 4)}" y="{_f(y1 + 42)}" fill="#b42318">? {escape(clip(target, 22))}'
                    f"</text></g>"
                )
                continue
            if dst.layer > src.layer:
                x1, y1 = src.x + NODE_W / 2, src.y + NODE_H
                x2, y2 = dst.x + NODE_W / 2, dst.y
                path = f"M{_f(x1)},{_f(y1)} L{_f(x2)},{_f(y2)}"
                # labels near the source, staggered so labels of edges fanning out stay apart
                frac = 0.25 + 0.17 * (forward % 3)
                forward += 1
                lx, ly = x1 + (x2 - x1) * frac, y1 + (y2 - y1) * frac
            elif dst is src:  # a loop on the node's right side
                x1, y1 = src.x + NODE_W, src.y + NODE_H / 2 - 10
                x2, y2 = src.x + NODE_W, src.y + NODE_H / 2 + 10
                cx = x1 + 46
                path = f"M{_f(x1)},{_f(y1)} C{_f(cx)},{_f(y1 - 24)} {_f(cx)},{_f(y2 + 24)} {_f(x2)},{_f(y2)}"
                lx, ly = cx + 10, (y1 + y2) / 2
            elif dst.layer == src.layer:  # same row: an arc over the top
                back += 1
                x1, y1 = src.x + NODE_W / 2 + 20, src.y
                x2, y2 = dst.x + NODE_W / 2 - 20, dst.y
                top = src.y - 30 - 8 * (back % 3)
                path = f"M{_f(x1)},{_f(y1)} C{_f(x1)},{_f(top)} {_f(x2)},{_f(top)} {_f(x2)},{_f(y2)}"
                lx, ly = (x1 + x2) / 2, top + 6
            else:  # back to an earlier row: an arc around the right-hand side
                back += 1
                x1, y1 = src.x + NODE_W, src.y + NODE_H / 2
                x2, y2 = dst.x + NODE_W, dst.y + NODE_H / 2 + 6
                bulge = 40 + 12 * (back % 4)
                cx = max(x1, x2) + bulge
                path = f"M{_f(x1)},{_f(y1)} C{_f(cx)},{_f(y1)} {_f(cx)},{_f(y2)} {_f(x2)},{_f(y2)}"
                lx, ly = cx - 10, y1 + (y2 - y1) * 0.25
            parts.append(
                f'<g class="edge" {attrs}><path d="{path}" fill="none" stroke="#5b6b7c" '
                f'stroke-width="1.3" marker-end="url(#arrow)"/></g>'
            )
            if label:
                tw = text_width(label) * 6.4 + 8
                labels_svg.append(
                    f'<g class="edge-label" {attrs}>'
                    f'<rect x="{_f(lx - tw / 2)}" y="{_f(ly - 9)}" width="{_f(tw)}" height="16" rx="3" '
                    f'fill="#ffffff" fill-opacity="0.92"/>'
                    f'<text x="{_f(lx)}" y="{_f(ly + 3)}" text-anchor="middle" '
                    f'fill="#1d2733">{escape(label)}</text></g>'
                )
    parts.extend(labels_svg)
    if flow.error in placed:  # the node runtime errors go to
        e = placed[flow.error]
        parts.append(
            f'<text class="error-entry" x="{_f(e.x + NODE_W / 2)}" y="{_f(e.y - 8)}" text-anchor="middle" '
            f'fill="#b42318">{_w(lang, "on_error")}</text>'
        )
    for nid, node in flow.nodes.items():
        p = placed[nid]
        fill, stroke = COLOURS.get(node.type, ("#ffffff", "#1d2733"))
        cx = p.x + NODE_W / 2
        tip = f"{nid} ({node.type})" + (f": {node.description}" if node.description else "")
        parts.append(
            f'<g class="node node-{node.type}" data-node="{escape(nid)}" data-type="{node.type}">'
            f"<title>{escape(tip)}</title>"
            + _shape(node.type, p.x, p.y, fill, stroke)
            + f'<text x="{_f(cx)}" y="{_f(p.y + 20)}" text-anchor="middle" font-weight="600" '
            f'fill="#1d2733">{escape(clip(nid, 22))}</text>'
            f'<text x="{_f(cx)}" y="{_f(p.y + 37)}" text-anchor="middle" fill="{stroke}">'
            f"{escape(clip(f'{node.type} · {node_detail(node, lang)}'.rstrip(' ·'), 25))}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
