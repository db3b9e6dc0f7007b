"""The ``sdg-program`` command line: one thin module per command over the Python API."""

from sdg_program.cli.app import app

__all__ = ["app"]
