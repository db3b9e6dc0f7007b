"""``python -m sdg_program`` and the ``sdg-program`` script (``main``): the command line.

``sdg-program --version`` is answered here, before the commands are imported: they load DSPy,
which takes seconds, and the versions are read from package metadata alone.
"""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from sdg_program.core.versions import version_lines

        print("\n".join(version_lines()))
        return
    from sdg_program.cli.app import main as run

    run()


if __name__ == "__main__":
    main()
