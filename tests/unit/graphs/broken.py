"""A graph module that fails at import (for the registry's error report)."""

raise ImportError("no module named 'definitely_missing_dependency'")
