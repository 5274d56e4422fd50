"""Local entry point, as `make serve` runs it: the app under Werkzeug's development
server, as `flask run` serves it (threaded, no reloader, no debugger), with one change.

Werkzeug's request handler sends `Server: Werkzeug/<version> Python/<version>` with every
answer, and `flask run` has no option to change it: versions tell a prober which known
flaws to try. Here the header names the product alone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from werkzeug.serving import WSGIRequestHandler, run_simple

from app.core.errors import ConfigError
from app.factory import create_app
from app.http.server_info import SERVER_NAME

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, naming the product without a version in `Server`."""

    def version_string(self) -> str:
        return SERVER_NAME


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the model on a local port.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    # The settings come from the environment, as under `flask run`; a bad one is one
    # line naming it, as on Lambda's log, not a traceback.
    try:
        app = create_app()
    except ConfigError as error:
        sys.exit(f"error: {error}")
    run_simple(args.host, args.port, app, threaded=True, request_handler=RequestHandler)


if __name__ == "__main__":
    main()
