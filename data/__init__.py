"""The files sdg-program ships: the package ``sdg_program.data``.

pyproject.toml maps this folder to ``sdg_program.data``, so a wheel holds it as
``sdg_program/data/`` and an editable install finds it here; code reads it only through
``sdg_program.core.resources`` (importlib.resources), never by a path relative to the current
folder or to the source tree. What is in it and where it comes from: ``README.md``.
"""
