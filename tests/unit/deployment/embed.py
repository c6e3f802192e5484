"""An embedding function for ``store.index`` (tests/integration/test_deployment.py)."""

from __future__ import annotations


def embed(texts: list[str]) -> list[list[float]]:
    """Two dimensions: the length of the text and its number of words."""
    return [[float(len(t)), float(len(t.split()))] for t in texts]
