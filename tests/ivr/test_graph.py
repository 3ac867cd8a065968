"""The IVR flow graph: every node and edge of the demo flows is drawn, text is escaped, and the
same flow always gives the same SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hotline.ivr.graph import clip, edge_labels, flow_svg, layers, text_width
from hotline.ivr.loader import parse_flow
from hotline.ivr.model import Flow

FLOWS = sorted((Path(__file__).resolve().parents[2] / "hotline" / "ivr" / "flows").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def _flow(path: Path) -> Flow:
    return parse_flow(path.read_text(encoding="utf-8"), source=path.name)


@pytest.mark.parametrize("path", FLOWS, ids=[p.stem for p in FLOWS])
def test_every_node_and_edge_of_the_demo_flows_is_drawn(path: Path) -> None:
    flow = _flow(path)
    root = ET.fromstring(flow_svg(flow))  # noqa: S314 (our own output)  well-formed XML
    assert root.tag == f"{SVG}svg"
    drawn = {g.get("data-node"): g.get("data-type") for g in root.iter(f"{SVG}g") if g.get("data-node")}
    assert drawn == {nid: node.type for nid, node in flow.nodes.items()}
    edges = {(g.get("data-from"), g.get("data-to")) for g in root.iter(f"{SVG}g") if g.get("data-from")}
    want = {(nid, target) for nid in flow.nodes for _, target in flow.nodes[nid].edges()}
    assert edges == want
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    for nid in flow.nodes:
        assert clip(nid, 22) in texts


def test_menu_edges_are_labelled_with_keys_and_timeouts() -> None:
    flow = _flow(next(p for p in FLOWS if p.stem == "95598-zh"))
    labels = dict(edge_labels(flow.nodes["menu"]))
    assert labels["fault"] == "2" and labels["english"] == "9"
    svg = flow_svg(flow)
    assert ">2</text>" in svg
    assert "5s" in svg  # the menu's timeout on its no-input edge
    assert "else" in svg and "if outage_notice" in svg


def test_output_is_deterministic() -> None:
    for path in FLOWS:
        assert flow_svg(_flow(path)) == flow_svg(_flow(path))


def test_text_is_escaped() -> None:
    flow = Flow.model_validate(
        {
            "name": "evil",
            "description": "<script>alert(1)</script>",
            "start": "a",
            "nodes": {
                "a": {"type": "condition", "when": 'x < 3 and y > "&"', "then": "b", "else": "b"},
                "b": {"type": "queue", "queue": "q", "description": "</g><svg onload=x>"},
            },
        }
    )
    svg = flow_svg(flow)
    ET.fromstring(svg)  # noqa: S314 (our own output)
    assert "<script>" not in svg and "<svg onload" not in svg
    assert "&lt;script&gt;" in svg and "&amp;" in svg and "x &lt; 3" in svg


def test_layers_follow_bfs_depth_and_unreachable_nodes_go_last() -> None:
    flow = Flow.model_validate(
        {
            "name": "t",
            "start": "a",
            "nodes": {
                "orphan": {"type": "hangup"},
                "a": {"type": "menu", "options": {"1": "b", "2": "c"}, "on_max_retries": "c"},
                "b": {"type": "play", "prompt": "x", "next": "a"},
                "c": {"type": "hangup"},
            },
        }
    )
    assert layers(flow) == [["a"], ["b", "c"], ["orphan"]]
    svg = flow_svg(flow)
    assert svg.count('class="edge"') == 3  # a→b, a→c (keys 2 and timeout merged), b→a (an arc)
    assert " C" in svg  # the back edge is a curve


def test_wide_characters_count_double() -> None:
    assert text_width("ab") == 2 and text_width("电费") == 4
    assert clip("欢迎致电95598供电服务热线", 10).endswith("…")
    assert text_width(clip("欢迎致电95598供电服务热线", 10)) <= 10


def test_labels_in_chinese() -> None:
    flow = _flow(next(p for p in FLOWS if p.stem == "95598-zh"))
    svg = flow_svg(flow, "zh-CN")
    assert ">开始<" in svg and "无有效按键" in svg and "否则" in svg and "6个选项" in svg
    assert ">start<" not in svg and "else" not in svg
