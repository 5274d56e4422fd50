"""A command-line tool's `main` run in process, as a user would run it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest


def run_main(
    main: Callable[[Sequence[str] | None], None],
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    """main's exit status, stdout and stderr; never a traceback."""
    try:
        main(argv)
    except SystemExit as exited:
        status = exited.code
    else:
        status = 0
    out, err = capsys.readouterr()
    assert isinstance(status, int), status
    assert "Traceback" not in out + err
    return status, out, err
