"""Kubernetes resource quantities, parsed as the API server parses them.

The rules are those of k8s.io/apimachinery/pkg/api/resource (quantity.go `ParseQuantity`,
suffix.go): an optional sign, digits with an optional fraction (`1.`, `.5` and even a bare sign
are accepted), then one suffix: a binary one (Ki..Ei), a decimal one (n, u, m, k, M, G, T, P, E)
or an exponent (e3, E-2). Values are rounded up to a nano, and binary ones are capped at
2^63-1, as the API server stores them. A spec is checked with these rules so that what
`mlcd validate` accepts is what `kubectl apply` accepts.
"""

from __future__ import annotations

import decimal
import functools
import re
from decimal import Decimal

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_MAX_INT64 = Decimal(2**63 - 1)
_NANO = Decimal("1e-9")

FORMAT_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
# The schema controller-gen gives every resource.Quantity of a CRD (the InferenceService's among them):
# the API server checks it before anything parses the value, and it refuses what the scanner lets by
# (a bare sign, a suffix without digits).
CRD_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
               r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
FORMAT_HINT = "a quantity such as 500m, 2, 1.5, 256Mi or 1e3"


class QuantityError(ValueError):
    """The text is not a quantity; the message is the API server's, with an example."""


def _scan(text: str, start: int, allowed: frozenset) -> int:
    end = start
    while end < len(text) and text[end] in allowed:
        end += 1
    return end


def _split(text: str) -> tuple[bool, str, str, str]:
    """(positive, number, fraction, suffix), following apimachinery's parseQuantityString."""
    positive = not text.startswith("-")
    pos = 1 if text[:1] in ("+", "-") else 0
    num_end = _scan(text, pos, _DIGITS)
    num, fraction = text[pos:num_end], ""
    pos = num_end
    if pos < len(text) and text[pos] == ".":
        frac_end = _scan(text, pos + 1, _DIGITS)
        fraction, pos = text[pos + 1:frac_end], frac_end
    suffix_start = pos
    pos = _scan(text, pos, _SUFFIX_CHARS)
    if pos < len(text) and text[pos] in "+-":
        pos += 1
    pos = _scan(text, pos, _DIGITS)
    if pos < len(text):
        raise QuantityError(f"quantities must match the regular expression '{FORMAT_PATTERN}'")
    return positive, num.lstrip("0") or "0", fraction, text[suffix_start:]


def _exponent(suffix: str) -> tuple[int, int]:
    """(base, exponent) of a suffix, as suffix.go interprets it."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix]
    if suffix in _BINARY:
        return 2, _BINARY[suffix]
    body = suffix[1:]
    if len(suffix) > 1 and suffix[0] in "eE" and body.lstrip("+-").isdigit() and body[:1] != "" \
            and body.count("+") + body.count("-") <= 1:
        value = int(body)
        if -(2**63) <= value < 2**63:
            # Go keeps the exponent in an int32: larger ones wrap around, as they do there.
            return 10, (value + 2**31) % 2**32 - 2**31
    raise QuantityError("unable to parse quantity's suffix")


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity, exactly as the API server computes it; QuantityError if it is none."""
    if not isinstance(text, str) or not text:
        raise QuantityError(f"quantities must match the regular expression '{FORMAT_PATTERN}'")
    return _parse(text)


@functools.lru_cache(maxsize=1024)  # a cluster's specs use a handful of quantities, over and over
def _parse(text: str) -> Decimal:
    positive, num, fraction, suffix = _split(text)
    base, exponent = _exponent(suffix)
    # Exact arithmetic: enough digits for the number times 2^60, and room for any int32 exponent.
    exact = decimal.Context(prec=len(num) + len(fraction) + 40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
    with decimal.localcontext(exact):
        amount = Decimal(f"{num}.{fraction or '0'}")
        amount = amount.scaleb(exponent) if base == 10 else amount * (Decimal(2) ** exponent)
        if amount.as_tuple().exponent < -9:  # the API server rounds up to a nano, away from zero
            amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP)
        if base == 2 and amount > _MAX_INT64:
            amount = _MAX_INT64
        return amount if positive else -amount


def quantity_problem(text: object) -> str | None:
    """Why a value is not a quantity the API server accepts in a CRD, or None when it is one: it must
    match the CRD schema's pattern and parse."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        return f"{text!r} is not {FORMAT_HINT}"
    if not re.match(CRD_PATTERN, str(text)):
        return f"{str(text)!r} is not {FORMAT_HINT} (it must match {CRD_PATTERN})"
    try:
        parse_quantity(str(text))
    except QuantityError as exc:
        return f"{str(text)!r} is not {FORMAT_HINT} ({exc})"
    return None
