"""gunicorn settings for the throughput benchmark, the same for our app and the naive one.

Two sync workers, one per core: the work is CPU-bound (parsing and predicting hold the
GIL), so threads add contention, not throughput. Measured on this 2-core machine with
wrk at 8 connections: 2 sync workers ~1,790 req/s, p99 9 ms; gthread with 4 threads
~1,350 req/s, p99 36 ms; 3 sync workers ~1,170 req/s, p99 19 ms.
"""

workers = 2
worker_class = "sync"
# The model is loaded in each worker after the fork: no pickled state crosses it.
preload_app = False
accesslog = None
errorlog = "-"
loglevel = "warning"
