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
    # A number never equals a text that is not one (None == Decimal is False), nor does its text.
    return left == right if left is not None else a.strip() == b.strip()
