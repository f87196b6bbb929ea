"""Kubernetes resource quantities, compared by value (``1`` == ``1000m``, ``1Gi`` == ``1024Mi``)."""

from __future__ import annotations

from decimal import Decimal

from mlcd.api.v1alpha1 import quantity


def parse_quantity(text: str) -> Decimal | None:
    """The value of a quantity, or None when it is not one (then it is compared as written)."""
    try:
        return quantity.parse_quantity(text.strip())
    except quantity.QuantityError:
        return None


def same_quantity(a: str, b: str) -> bool:
    left, right = parse_quantity(a), parse_quantity(b)
    if left is None or right is None:
        return a.strip() == b.strip()
    return left == right
