"""``python -m sdg_program``: the same as the ``sdg-program`` command."""

from sdg_program.cli import app

app(prog_name="sdg-program")
