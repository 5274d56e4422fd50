"""gunicorn settings for the throughput benchmark, the same for our app and the naive one.

Two sync workers, one per core: the work is CPU-bound (parsing and predicting hold the
GIL), so threads add contention, not throughput. Measured on this 2-core machine with
wrk at 8 connections: 2 sync workers ~1,790 req/s, p99 9 ms; gthread with 4 threads
~1,350 req/s, p99 36 ms; 3 sync workers ~1,170 req/s, p99 19 ms.
"""

import os
import re
from pathlib import Path

workers = 2
worker_class = "sync"
# The model is loaded in each worker after the fork: no pickled state crosses it.
preload_app = False
accesslog = None
errorlog = "-"
loglevel = "warning"

# With BENCH_WORKER_RSS_DIR set, each worker writes its own RSS (kB) after its own
# 100th and 10,000th request, so memory growth is judged per worker from a baseline
# every worker really reached, whichever way the load was spread.
RSS_MARKS = (100, 10_000)
_served = 0  # per worker: each forked worker counts in its own copy


def post_request(worker, req, environ, resp):
    global _served
    _served += 1
    folder = os.environ.get("BENCH_WORKER_RSS_DIR")
    if folder and _served in RSS_MARKS:
        rollup = Path("/proc/self/smaps_rollup").read_text()
        rss_kb = re.search(r"^Rss:\s+(\d+)", rollup, re.M).group(1)
        Path(folder, f"{os.getpid()}-{_served}").write_text(rss_kb)
