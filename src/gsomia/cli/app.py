"""The ``gsomia`` command: assembles the command groups and maps errors to exit codes.

Commands parse, call one use case and render. Every error a user can cause is a
``GsomiaError`` (or a click usage error) and becomes one line ``error: ...`` on stderr with its
exit code: 2 bad input, 3 verification failed, 4 denied, 5 conflict. No traceback reaches a user
for bad input.
"""

from __future__ import annotations

import sys

import typer

from gsomia.cli import cmd_demo, cmd_engine, cmd_keys, cmd_log, cmd_node, cmd_note, cmd_seal
from gsomia.errors import GsomiaError

EXIT_BAD_INPUT = 2


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="gsomia",
        help="An agreement-governed exchange for classified military information.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    for module in (cmd_engine, cmd_seal, cmd_keys, cmd_log, cmd_node, cmd_note, cmd_demo):
        module.register(app)
    return app


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the process exit code."""
    app = build_app()
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="gsomia", standalone_mode=False)
    except GsomiaError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        code = 130
    except typer.TyperException as exc:  # typer's usage errors (bad option, missing argument…)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `gsomia` alone: show the help as it is
            print(message, file=sys.stderr)
        else:
            print(f"error: {_one_line(message)}", file=sys.stderr)
        code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
    except BrokenPipeError:
        code = 0
    else:
        code = 0
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
