"""An embedding function for ``store.index`` (tests/integration/test_deployment.py,
tests/acceptance/test_store_index.py): three dimensions, how much a text is about cats, about
dogs, and a constant (so that no vector is zero)."""

from __future__ import annotations


def embed(texts: list[str]) -> list[list[float]]:
    return [[float(t.count("cat")), float(t.count("dog")), 0.1] for t in texts]
