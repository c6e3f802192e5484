"""A graph that imports a module from a ``dependencies`` directory."""

from __future__ import annotations

from shared_lib import VALUE


def answer(state: dict) -> dict:
    return {"answer": VALUE}
