"""The sweeper process: ``python -m sweeper`` (APScheduler wiring in ``__main__``; the jobs, plain
functions of ``now``, in ``jobs``)."""
