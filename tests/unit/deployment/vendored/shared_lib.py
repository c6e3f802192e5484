"""A module only importable once ``dependencies`` put this directory on ``sys.path``."""

VALUE = 42
