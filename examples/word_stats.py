"""Word statistics of a text: a plain (Celery-style) Python function.

Input: ``{"text": str}``. Output: ``{"words": int, "unique": int, "top": [[word, count], ...]}``.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_WORD = re.compile(r"[\w']+")


def word_stats(input: dict[str, Any]) -> dict[str, Any]:
    """Count the words of ``input["text"]``; the five most common come first."""
    words = [w.lower() for w in _WORD.findall(str(input.get("text", "")))]
    counts = Counter(words)
    return {
        "words": len(words),
        "unique": len(counts),
        "top": [[word, n] for word, n in counts.most_common(5)],
    }
