"""The differences from the official server that the sweep lets stay: ``(pattern, why)``, the
pattern a regular expression searched in ``"<case>.json [<label>] <path>: official …,
callboard …"``. Each ``why`` starts with one of: ``official bug`` (the official answer is
plainly wrong), ``by design`` (Callboard answers otherwise on purpose) or ``not fixed``
(a real difference still open)."""

from __future__ import annotations

KNOWN_DIFFERENCES: list[tuple[str, str]] = []
