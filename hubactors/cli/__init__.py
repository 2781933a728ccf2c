"""The ``hubactors`` command: ``demo``, ``chat`` and ``check-config``."""

from hubactors.cli._main import main

__all__ = ["main"]
