"""No answer is a redirect: a path is a route as sent, or a 404.

Werkzeug's router answers some paths with a 308 to where it reckons they belong
(`/v2//health/live` to `/v2/health/live`, an empty path to `/`), and builds the Location
from the Host header, which the client writes; Flask returns that redirect past the error
handlers. Here such a path is matched as sent, and answered as any unknown path is: a 404
in the protocol's own shape.
Leading slashes are another matter: Werkzeug strips them before matching, so `//predict`
is answered by /predict itself.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect


def refuse_redirects(app: Flask) -> None:
    # Not matched with its slashes merged either: `/v2//health/live` is no route for any
    # method, rather than a 404 to GET and a 405 naming the route's methods to POST.
    app.url_map.merge_slashes = False
    app.before_request(_refuse_redirect)


def _refuse_redirect() -> None:
    if isinstance(request.routing_exception, RequestRedirect):
        raise NotFound()
