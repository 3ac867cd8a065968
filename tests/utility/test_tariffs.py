"""Tariff documents: validation with paths, exact pricing, versions (pure)."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.errors import Invalid
from hotline.utility import tariffs as T
from hotline.utility.money import fen

DEFAULTS = {d["code"]: d for d in T.default_documents()}


def doc(base: str, **changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(DEFAULTS[base])
    d.update(changes)
    return d


def paths(d: dict[str, Any]) -> list[str]:
    spec, issues = T.check(d)
    assert spec is None
    return [i.path for i in issues]


def test_default_set_is_valid_and_covers_every_class() -> None:
    specs = [T.parse_tariff(d) for d in DEFAULTS.values()]
    assert {s.customer_class for s in specs} == set(T.CLASSES)
    assert {s.kind for s in specs} == set(T.KINDS)


def test_annual_tiers_use_year_to_date() -> None:
    spec = T.parse_tariff(DEFAULTS["res-tiered"])
    lines = T.price(spec, T.Usage("2026-10", D("300.00"), year_to_date_kwh=D("2600.00")))
    assert [(ln.code, ln.kwh, ln.amount) for ln in lines] == [
        ("tier1", D("160.00"), D("84.53")),  # 160 × 0.5283 = 84.528 → 84.53 (half up)
        ("tier2", D("140.00"), D("80.96")),  # 140 × 0.5783 = 80.962
    ]
    over = T.price(spec, T.Usage("2026-12", D("100.00"), year_to_date_kwh=D("5000.00")))
    assert [(ln.code, ln.amount) for ln in over] == [("tier3", D("82.83"))]
    zero = T.price(spec, T.Usage("2026-01", D("0.00")))
    assert [(ln.code, ln.amount) for ln in zero] == [("tier1", D("0.00"))]


def test_monthly_tiers_ignore_year_to_date_and_scale_with_months() -> None:
    d = doc("res-tiered", tier_period="monthly", tiers=[{"upto": "230", "price": "0.5"}, {"price": "0.8"}])
    spec = T.parse_tariff(d)
    one = T.price(spec, T.Usage("2026-07", D("300"), year_to_date_kwh=D("9999")))
    assert [(ln.kwh, ln.amount) for ln in one] == [(D("230"), D("115.00")), (D("70"), D("56.00"))]
    two = T.price(spec, T.Usage("2026-07", D("300"), months_in_period=2))
    assert [ln.code for ln in two] == ["tier1"]


def test_resident_tou_overlay_adds_tier_markups() -> None:
    spec = T.parse_tariff(DEFAULTS["res-tiered-tou"])
    usage = T.Usage("2026-10", D("300"), kwh_peak=D("200"), kwh_valley=D("100"), year_to_date_kwh=D("2700"))
    lines = {ln.code: ln for ln in T.price(spec, usage)}
    assert lines["peak"].amount == D("111.66")  # 200 × 0.5583
    assert lines["valley"].amount == D("35.83")  # 100 × 0.3583
    assert lines["tier2_markup"].kwh == D("240") and lines["tier2_markup"].price == D("0.0500")
    assert lines["tier2_markup"].amount == D("12.00")
    assert "tier1_markup" not in lines


def test_tou_lines_sum_to_registers_and_rest_goes_to_flat() -> None:
    spec = T.parse_tariff(DEFAULTS["com-tou"])
    lines = T.price(spec, T.Usage("2026-10", D("1000.00"), kwh_peak=D("300.00"), kwh_valley=D("200.00")))
    by = {ln.code: ln for ln in lines}
    assert by["flat"].kwh == D("500.00")
    assert by["surcharge.gov_funds"].amount == D("29.60")
    with pytest.raises(Invalid, match="more than the total"):
        T.price(spec, T.Usage("2026-10", D("10"), kwh_peak=D("11")))
    with pytest.raises(Invalid, match="sharp"):
        T.price(spec, T.Usage("2026-10", D("10"), kwh_sharp=D("1")))


def test_two_part_demand_and_capacity() -> None:
    demand = T.parse_tariff(DEFAULTS["li-two-part"])
    lines = T.price(demand, T.Usage("2026-10", D("10000"), kwh_peak=D("4000"), demand_kw=D("420.50")))
    assert lines[0].code == "demand" and lines[0].amount == D("16820.00") and lines[0].kwh is None
    capacity = T.parse_tariff(DEFAULTS["li-two-part-capacity"])
    lines = T.price(capacity, T.Usage("2026-10", D("0"), capacity_kva=D("630"), months_in_period=2))
    assert lines[0].code == "capacity" and lines[0].amount == D("40320.00")
    flat = T.parse_tariff(
        doc("li-two-part", energy={"kind": "flat", "price": "0.6"}, basic={"basis": "capacity", "price": 32})
    )
    assert [ln.code for ln in T.price(flat, T.Usage("2026-10", D("1")))] == [
        "capacity",
        "energy",
        "surcharge.gov_funds",
    ]


def test_flat_price_and_rounding_per_line() -> None:
    spec = T.parse_tariff(DEFAULTS["agri-flat"])
    (line,) = T.price(spec, T.Usage("2026-10", D("0.01")))
    assert line.amount == D("0.01")  # 0.00509 → 0.01 (half up)
    (line,) = T.price(spec, T.Usage("2026-10", D("0.99")))
    assert line.amount == D("0.50")  # 0.50391


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        (
            {"tiers": [{"upto": "100", "price": "1"}, {"upto": "100", "price": "1"}, {"price": "1"}]},
            "tiers[1].upto",
            "overlap",
        ),
        (
            {"tiers": [{"upto": "300", "price": "1"}, {"upto": "100", "price": "1"}, {"price": "1"}]},
            "tiers[1].upto",
            "order",
        ),
        ({"tiers": [{"upto": "100", "price": "1"}, {"upto": "200", "price": "1"}]}, "tiers[1].upto", "open"),
        ({"tiers": [{"price": "1"}, {"price": "2"}]}, "tiers[0].upto", "only the last"),
        ({"tiers": [{"upto": "100", "price": "-0.1"}, {"price": "1"}]}, "tiers[0].price", "negative"),
        ({"tiers": [{"upto": "100", "price": "0.1234567"}, {"price": "1"}]}, "tiers[0].price", "6 decimal"),
        ({"tiers": []}, "tiers", "at least one"),
        ({"kind": "stepped"}, "kind", "unknown"),
        ({"voltage": "11kV"}, "voltage", "one of"),
        ({"customer_class": "shop"}, "customer_class", ""),
        ({"tier_period": "weekly"}, "tier_period", ""),
        ({"tiers": [{"upto": "100", "prise": "1"}, {"price": "1"}]}, "tiers[0].prise", "unknown field"),
        ({"effective_from": "yesterday"}, "effective_from", ""),
        (
            {
                "surcharges": [
                    {"code": "f", "label": "F", "price": "1"},
                    {"code": "f", "label": "G", "price": "1"},
                ]
            },
            "surcharges[1].code",
            "duplicate",
        ),
    ],
)
def test_invalid_tiered_documents_name_the_path(changes: dict[str, Any], path: str, reason: str) -> None:
    spec, issues = T.check(doc("res-tiered", **changes))
    assert spec is None
    assert any(i.path == path and reason in i.reason for i in issues), issues
    with pytest.raises(Invalid) as exc:
        T.parse_tariff(doc("res-tiered", **changes))
    assert exc.value.field == issues[0].path


def tou(windows: dict[str, list[str]], prices: dict[str, str] | None = None) -> dict[str, Any]:
    return doc("com-tou", tou={"windows": windows, "prices": prices or {k: "0.5" for k in windows}})


@pytest.mark.parametrize(
    ("windows", "prices", "path", "reason"),
    [
        ({"peak": ["08:00-12:00"], "flat": ["11:00-08:00"]}, None, "tou.windows.flat[0]", "overlaps"),
        ({"peak": ["08:00-12:00"], "flat": ["13:00-08:00"]}, None, "tou.windows", "gaps 12:00-13:00"),
        (
            {"peak": ["00:00-24:00"], "offpeak": ["00:00-01:00"]},
            None,
            "tou.windows.offpeak",
            "unknown register",
        ),
        ({"peak": ["8-12"], "flat": ["12:00-08:00"]}, None, "tou.windows.peak[0]", "not a window"),
        ({"peak": ["25:00-12:00"], "flat": ["12:00-08:00"]}, None, "tou.windows.peak[0]", "not a window"),
        ({"peak": ["08:00-08:00"], "flat": ["12:00-08:00"]}, None, "tou.windows.peak[0]", "empty"),
        ({"peak": ["00:00-24:00"]}, {"peak": "1", "valley": "0.3"}, "tou.prices.valley", "without windows"),
        (
            {"peak": ["08:00-20:00"], "valley": ["20:00-08:00"]},
            {"peak": "1"},
            "tou.prices.valley",
            "missing price",
        ),
        ({"peak": ["00:00-24:00"]}, {"peak": "-1"}, "tou.prices.peak", "negative"),
    ],
)
def test_invalid_tou_windows(
    windows: dict[str, list[str]], prices: dict[str, str] | None, path: str, reason: str
) -> None:
    spec, issues = T.check(tou(windows, prices))
    assert spec is None
    assert any(i.path == path and reason in i.reason for i in issues), issues


def test_two_part_paths_and_overlay_checks() -> None:
    bad = doc("li-two-part")
    bad["energy"] = {**bad["energy"], "windows": {"peak": ["00:00-23:00"]}, "prices": {"peak": "1"}}
    assert "energy.windows" in paths(bad)
    assert paths(doc("li-two-part", energy={"kind": "hourly"})) == ["energy.kind"]
    assert paths(doc("li-two-part", basic={"basis": "both", "price": "1"})) == ["basic.basis"]
    falling = doc("res-tiered-tou", tiers=[{"upto": "100", "price": "0.6"}, {"price": "0.5"}])
    assert paths(falling) == ["tiers[1].price"]
    assert paths({"code": "x"}) == ["kind"]
    assert T.check([])[1][0].reason.startswith("a tariff document")  # type: ignore[arg-type]


def test_dump_round_trips_with_decimal_strings() -> None:
    spec = T.parse_tariff(DEFAULTS["li-two-part"])
    body = T.dump(spec)
    assert body["basic"]["price"] == "40" and body["energy"]["prices"]["sharp"] == "1.1442"
    assert T.parse_tariff(body) == spec
    floats = doc("agri-flat", price=0.509)  # YAML without quotes: a float, read by its digits
    assert T.parse_tariff(floats).price == D("0.509")  # type: ignore[union-attr]


def test_select_tariff_by_date_code_class_and_voltage() -> None:
    v1 = T.TariffVersion(1, T.parse_tariff(DEFAULTS["com-tou"]))
    v2 = T.TariffVersion(2, T.parse_tariff(doc("com-tou", effective_from="2026-07-01")))
    kv = T.TariffVersion(3, T.parse_tariff(doc("com-tou", code="com-tou-10kv", voltage="10kV")))
    opt = T.TariffVersion(4, T.parse_tariff(DEFAULTS["res-tiered-tou"]))
    res = T.TariffVersion(5, T.parse_tariff(DEFAULTS["res-tiered"]))
    vs = [v1, v2, kv, opt, res]
    assert T.select_tariff(vs, "commercial", "380V", "", date(2026, 6, 30)) is v1
    assert T.select_tariff(vs, "commercial", "380V", "", date(2026, 7, 1)) is v2
    assert T.select_tariff(vs, "commercial", "10kV", "", date(2026, 7, 1)) is kv  # exact voltage first
    assert T.select_tariff(vs, "urban_resident", "220V", "", date(2026, 7, 1)) is res  # opt-in skipped
    assert T.select_tariff(vs, "urban_resident", "220V", "res-tiered-tou", date(2026, 7, 1)) is opt
    assert T.select_tariff(vs, "commercial", "380V", "", date(2019, 12, 31)) is None
    assert T.select_tariff(vs, "agriculture", "380V", "", date(2026, 7, 1)) is None
    assert T.select_tariff(vs, "commercial", "380V", "nope", date(2026, 7, 1)) is None


# -- properties -----------------------------------------------------------------------------------

kwh = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=5, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tiered_specs(draw: st.DrawFn) -> T.TieredSpec:
    bounds = sorted(draw(st.sets(st.integers(1, 20000), min_size=0, max_size=4)))
    ps = sorted(draw(st.lists(prices, min_size=len(bounds) + 1, max_size=len(bounds) + 1)))
    tiers = [{"upto": str(b), "price": str(p)} for b, p in zip(bounds, ps, strict=False)]
    tiers.append({"price": str(ps[-1])})
    spec = T.parse_tariff(doc("res-tiered", tiers=tiers))
    assert isinstance(spec, T.TieredSpec)
    return spec


@settings(max_examples=200, deadline=None)
@given(tiered_specs(), kwh, kwh, kwh)
def test_tiered_split_and_monotonic(spec: T.TieredSpec, used: D, more: D, ytd: D) -> None:
    lines = T.price(spec, T.Usage("2026-05", used, year_to_date_kwh=ytd))
    assert sum((ln.kwh or 0 for ln in lines), D(0)) == used  # tier kWh add up to the usage
    assert all(
        ln.amount == fen(ln.kwh * ln.price) for ln in lines if ln.kwh is not None and ln.price is not None
    )
    bigger = T.price(spec, T.Usage("2026-05", used + more, year_to_date_kwh=ytd))
    assert T.total(bigger) >= T.total(lines)  # non-decreasing prices: more kWh never costs less


@settings(max_examples=200, deadline=None)
@given(kwh, kwh, kwh, kwh, kwh)
def test_tou_lines_add_up_to_the_total(sharp: D, peak: D, flat: D, valley: D, extra: D) -> None:
    spec = T.parse_tariff(DEFAULTS["li-two-part"])
    total = sharp + peak + flat + valley + extra
    usage = T.Usage("2026-05", total, sharp, peak, flat, valley, demand_kw=D("10"))
    lines = T.price(spec, usage)
    energy = [ln for ln in lines if ln.code in T.REGISTERS]
    assert sum((ln.kwh or 0 for ln in energy), D(0)) == total
    assert T.total(lines) == sum((ln.amount for ln in lines), D(0))
    assert all(ln.amount == ln.amount.quantize(D("0.01")) for ln in lines)


windows_text = st.lists(
    st.tuples(
        st.integers(0, 24), st.sampled_from([0, 15, 30, 45]), st.integers(0, 24), st.sampled_from([0, 30])
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(windows_text, st.sampled_from(T.REGISTERS))
def test_random_windows_valid_only_when_they_tile_the_day(
    spans: list[tuple[int, int, int, int]], reg: str
) -> None:
    texts = [f"{a:02d}:{b:02d}-{c:02d}:{d:02d}" for a, b, c, d in spans]
    spec, issues = T.check(tou({reg: texts}))
    minutes = [0] * (24 * 60)
    ok = True
    for a, b, c, d in spans:
        s, e = a * 60 + b, c * 60 + d
        if (a == 24 and b) or (c == 24 and d) or s == e or s >= 24 * 60 or e > 24 * 60:
            ok = False
            continue
        for m in range(s, e) if s < e else [*range(s, 24 * 60), *range(0, e)]:
            minutes[m] += 1
    tiles = ok and all(x == 1 for x in minutes)
    assert (spec is not None) == tiles, (texts, issues)
    assert all(i.path.startswith("tou.") for i in issues)


def test_dump_is_tidy_and_comparison_is_semantic() -> None:
    spec = T.parse_tariff(DEFAULTS["res-tiered"])
    body = T.dump(spec)
    assert list(body)[:3] == ["code", "name", "kind"]
    assert "surcharges" not in body and all("label" not in t for t in body["tiers"])
    verbose = spec.model_dump(mode="json")  # an older, fuller form of the same document
    assert verbose != body and T.same_spec(verbose, spec)
    assert not T.same_spec({**verbose, "tier_period": "monthly"}, spec)
    assert not T.same_spec({"kind": "nonsense"}, spec)
