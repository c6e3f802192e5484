"""``python -m migrations``: bring the database named by ``DATABASE_URL`` up to date."""

from __future__ import annotations

import logging
import sys

from app.config import Settings
from migrations import apply_all


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    applied = apply_all(settings.database_url)
    logging.getLogger("migrations").info("database is up to date (%d file(s) applied now)", applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
