"""The app's Flask class: Flask, with two of its behaviours changed.

No answer is a redirect: a path is a route as sent, or a 404. Werkzeug's router answers
some paths with a 308 to where it reckons they belong (`/v2//health/live` to
`/v2/health/live`, an empty path to `/`), and builds the Location from the Host header,
which the client writes; Flask returns that redirect past the error handlers. Here such
a path is matched as sent, and answered as any unknown path is: a 404 in the protocol's
own shape. The refusal is made where Flask raises a routing error, after the
before-request hooks (with keys on, a path that is no route needs a key first), so a
request that matched its route pays nothing for it. Leading slashes are another matter:
Werkzeug strips them before matching, so `//predict` is answered by /predict itself.

Views and hooks are plain functions: Flask asks of each, on every request, whether it
is a coroutine function (a few microseconds each, five or six times a request); here
the answer is kept per function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.wrappers import Request
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

_KEPT_FUNCTIONS = 256


class ServiceFlask(Flask):
    """Flask, whose router never redirects and whose views' kind is looked up once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Not matched with its slashes merged either: `/v2//health/live` is no route for
        # any method, rather than a 404 to GET and a 405 naming the route's methods to POST.
        self.url_map.merge_slashes = False
        self._synchronous: dict[Callable[..., Any], Callable[..., Any]] = {}

    def raise_routing_exception(self, request: Request) -> Any:
        if isinstance(request.routing_exception, RequestRedirect):
            raise NotFound()
        return super().raise_routing_exception(request)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        found = self._synchronous.get(func)
        if found is None:
            found = super().ensure_sync(func)
            # Views, hooks and error handlers are a fixed set; a function made per request
            # (none here today) would only be looked up again once this is full.
            if len(self._synchronous) < _KEPT_FUNCTIONS:
                self._synchronous[func] = found
        return found
