"""The queue worker: ``python -m workers`` (see ``workers/__main__.py``)."""
