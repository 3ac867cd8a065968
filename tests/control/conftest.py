"""Fixtures for call-control tests (SIPp peers)."""

from __future__ import annotations

from tests.peers import sipp

sipp_peers = sipp.sipp_peers  # the fixture
