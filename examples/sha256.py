"""SHA-256 of a payload: a plain async Python function.

Input: ``{"payload": str, "rounds": int = 1}``; the digest is applied ``rounds`` times
(each round hashes the previous hex digest). Output: ``{"sha256": hex str, "rounds": int}``.
"""

from __future__ import annotations

import hashlib
from typing import Any


async def sha256(input: dict[str, Any]) -> dict[str, Any]:
    """Hash ``input["payload"]`` (UTF-8) ``rounds`` times."""
    data = str(input.get("payload", ""))
    rounds = int(input.get("rounds", 1))
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    for _ in range(rounds):
        data = hashlib.sha256(data.encode()).hexdigest()
    return {"sha256": data, "rounds": rounds}
