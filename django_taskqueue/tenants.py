"""Tenants: an optional name on items, workflows and schedules that the doors scope by.

A tenant is a name under the same rule as queue names (``validation.NAME_PATTERN``), checked
here for every door. An item with a tenant and no ``concurrency_key`` of its own takes
``tenant:<name>`` as its key, so the claims' round-robin across keys and a definition's
``key_concurrency_limit`` / ``key_rate_limit`` share the runners out per tenant with no
machinery of their own (docs/tenants.md).
"""

from __future__ import annotations

from typing import Any

from .validation import validate_name

KEY_PREFIX = "tenant:"


def check_tenant(value: Any) -> str | None:
    """A tenant as stored: None for none, else a name under the rule of queue names."""
    return None if value is None else validate_name(value, "tenant")


def tenant_key(tenant: str) -> str:
    """The concurrency key an item of ``tenant`` takes when it is given none."""
    return f"{KEY_PREFIX}{tenant}"
