"""The HTTP side every protocol shares: request bodies, error rendering, request ids,
cold starts and the access log with its metrics, CORS, response headers, the warm-up,
the answer sizes that fit through Lambda, and the app's parts found by their type.
"""
