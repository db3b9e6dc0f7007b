"""The ``sdg-program`` Typer app: the root options and the list of commands.

Each command lives in its own module and only parses options, builds a typed config and calls
the Python API (``sdg_program.chunk``, ``generate``, ``convert``, ...), which notebooks can call
too. Run it as ``sdg-program`` or ``python -m sdg_program``.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sdg_program.cli.chunk import chunk_command
from sdg_program.cli.compile import compile_command
from sdg_program.cli.convert import convert_command
from sdg_program.cli.evaluate import eval_command
from sdg_program.cli.finetune import finetune_command
from sdg_program.cli.generate import generate_command
from sdg_program.cli.push import push_command
from sdg_program.cli.scan import scan_command

app = typer.Typer(
    name="sdg-program",
    help="Turn a folder of documents into retriever training and evaluation data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# In the order of a pipeline run; --help lists them so.
app.command("chunk")(chunk_command)
app.command("generate")(generate_command)
app.command("compile")(compile_command)
app.command("convert")(convert_command)
app.command("scan")(scan_command)
app.command("push")(push_command)
app.command("eval")(eval_command)
app.command("finetune")(finetune_command)


def _print_version(value: bool) -> None:
    if value:
        from sdg_program.core.versions import version_lines

        print("\n".join(version_lines()))
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_print_version, is_eager=True, help="Print the versions of sdg-program, DSPy, llama-cpp-python and the embedded models, and exit.")] = None,
) -> None:
    """Turn a folder of documents into retriever training and evaluation data.

    Start with `sdg-program chunk` to see how your documents are split, before any
    model is called.
    """
    from sdg_program.core.secrets import install_scrubbing

    # Endpoint errors can echo the Authorization header back: no log line or traceback shows a key.
    install_scrubbing()


def main() -> None:
    """Run the command line (``sdg_program.__main__.main``, behind the ``sdg-program`` script and ``python -m sdg_program``, calls it)."""
    app(prog_name="sdg-program")
