"""Contracted capacity (合同容量): validated, stored exactly, used by capacity-based tariffs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from httpx import AsyncClient

from hotline.crm.customers import check_capacity
from hotline.errors import Invalid
from tests.conftest import token_for


@pytest.mark.parametrize(
    ("raw", "want"),
    [("630", Decimal("630.00")), (800, Decimal("800.00")), ("", Decimal("0.00")), ("12.5", Decimal("12.50"))],
)
def test_capacity_is_read_exactly(raw: object, want: Decimal) -> None:
    assert check_capacity(raw) == want


@pytest.mark.parametrize("raw", ["-1", "1.234", "abc", "1e9", True, None, "NaN"])
def test_bad_capacity_is_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(Invalid) as exc:
        check_capacity(raw)
    assert exc.value.field == "capacity_kva"


async def test_capacity_through_the_api(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    r = await app_client.post(
        "/api/v1/customers",
        json={
            "account_no": "CAP-0001",
            "name": "江宁钢构厂",
            "unit": "js.nj.jn",
            "customer_class": "large_industry",
            "voltage": "10kV",
            "capacity_kva": "1250",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["capacity_kva"] == "1250.00"
    cid = r.json()["id"]
    r = await app_client.patch(f"/api/v1/customers/{cid}", json={"capacity_kva": "-5"}, headers=h)
    assert r.status_code == 422 and "capacity_kva" in r.text
    r = await app_client.patch(f"/api/v1/customers/{cid}", json={"capacity_kva": "1600"}, headers=h)
    assert r.status_code == 200 and r.json()["capacity_kva"] == "1600.00"
