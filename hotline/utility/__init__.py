"""The power-utility domain: tariffs, meter readings, bills, payments, late fees, outages.

:mod:`hotline.utility.backend` is the interface the rest of Hotline uses (``BillingBackend``);
the built-in implementation keeps its data in the Hotline database, and a deployment with its own
billing system (CIS) plugs in an adapter instead.
"""
