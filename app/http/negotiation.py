"""Content negotiation: the Accept header read as RFC 9110 (section 12.5.1) says,
in one place for every route that offers forms."""

from collections.abc import Sequence
from typing import TypeVar

Form = TypeVar("Form", bound=str)


def ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range in an Accept header, lower-cased;
    a range with a malformed q is left out."""
    found = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if kind and slash and subtype and (q := _quality(params)) is not None:
            found.append((kind, subtype, q))
    return found


def _quality(params: list[str]) -> float | None:
    """The range's q (1 when it has none); None when it is not a number from 0 to 1."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if 0 <= q <= 1 else None
    return 1.0


def quality(accept: str, media_type: str) -> float:
    """How much the header likes `media_type`: the q of its most specific matching range (0 when none matches)."""
    kind, _, subtype = media_type.partition(";")[0].strip().lower().partition("/")
    specificities = {(kind, subtype): 2, (kind, "*"): 1, ("*", "*"): 0}
    matching = [(specificities[k, s], q) for k, s, q in ranges(accept) if (k, s) in specificities]
    if not matching:
        return 0.0
    most_specific = max(specificity for specificity, _ in matching)
    return max(q for specificity, q in matching if specificity == most_specific)


def choose(accept: str | None, offered: Sequence[Form]) -> Form | None:
    """The offered form the header likes best, ties going to the earlier (the server's preference); the first when it
    says nothing; None when it refuses them all."""
    if accept is None or not accept.strip():
        return offered[0]
    best, best_q = None, 0.0
    for form in offered:
        if (q := quality(accept, form)) > best_q:
            best, best_q = form, q
    return best
