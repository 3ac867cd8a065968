"""Hotline: an open-source customer service center platform."""

__version__ = "0.1.0"
