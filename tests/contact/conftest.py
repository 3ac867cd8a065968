"""Fixtures for call tests with real peers."""

from __future__ import annotations

import os

import pytest

from tests.peers import baresip


@pytest.fixture
def need_baresip() -> None:
    if not baresip.available():
        if os.environ.get("CI"):
            pytest.fail("baresip is required in CI (Debian package baresip-core)")
        pytest.skip("BARESIP NOT INSTALLED: install Debian's baresip-core (make test does)")
