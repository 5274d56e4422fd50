"""The HTTP side every protocol shares: request bodies, error rendering, request ids and
the access log, metrics, CORS, response headers and the warm-up.
"""
