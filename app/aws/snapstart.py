"""Lambda SnapStart's runtime hooks: what the snapshot holds, and what each copy redoes.

With SnapStart, Lambda runs the init phase once, when a version is published,
snapshots the initialised process, and starts every execution environment of that
version from a copy of the snapshot. Lambda's Python runtime provides the module
`snapshot_restore_py` to register code to run just before the snapshot is taken and
just after each copy is restored (it runs the first in reverse order of registration,
the second in order):

- before the snapshot: the model's example is answered through the whole app once
  more (app.http.warm_up), so that every first-use cost is in the snapshot;
- after each restore, whatever must differ from copy to copy is made anew: Python's
  and numpy's global random generators are reseeded from the OS, the next request is
  logged and counted as a restore rather than a cold start (app.http.starts), and
  the API keys are read from their secret again, so that keys rotated since the
  snapshot take effect and keys revoked since then stop working.

Nothing else the app holds needs renewing: request ids are Lambda's own, or uuid4,
which reads os.urandom, fresh in every copy; and no AWS client or connection
outlives the call that made it (app.auth.key_source, app.service.model_source).

A copy that cannot read the keys secret fails closed, as a cold start does
(app.auth.key_source): its app stops accepting any key, and the hook raises, so that
Lambda's runtime reports the restore as failed and discards the copy without it
serving; the next invocation restores another copy, which reads the secret again.

Where `snapshot_restore_py` cannot be imported (`flask run`, the tests, a Lambda
runtime without it) nothing is registered and nothing changes.
"""

from __future__ import annotations

import logging
import random

from flask import Flask

from app.auth.api_keys import replace_api_keys
from app.auth.key_source import KeysUnavailable, load_api_keys
from app.http.serving import batch_limit
from app.http.starts import note_restore
from app.http.warm_up import warm_up
from app.service.settings import Settings

log = logging.getLogger(__name__)


def register_snapstart_hooks(app: Flask, settings: Settings) -> bool:
    """Register the hooks for `app`, built from `settings`; False where the runtime has
    no `snapshot_restore_py` to register them with."""
    try:
        import snapshot_restore_py
    except ImportError:
        return False
    snapshot_restore_py.register_before_snapshot(before_snapshot, app)
    snapshot_restore_py.register_after_restore(after_restore, app, settings)
    return True


def before_snapshot(app: Flask) -> None:
    """Pay every first-use cost once more, into the snapshot."""
    warm_up(app, batch_limit)


def after_restore(app: Flask, settings: Settings) -> None:
    """Make anew, in this copy, what no two copies of the snapshot may share."""
    reseed_random()
    note_restore(app)
    if settings.api_keys_secret is not None:
        read_keys_again(app, settings)
    log.info("restored from a snapshot: random state reseeded, next request logged as restore")


def reseed_random() -> None:
    """Fresh OS entropy for the global generators every copy would otherwise share.

    Nothing in the app draws random numbers when serving; a model may (scikit-learn
    falls back to numpy's legacy global generator when given no random_state).
    """
    # numpy is imported already, for the model; here only so that this module is not
    # what imports it.
    import numpy

    random.seed()
    numpy.random.seed()


def read_keys_again(app: Flask, settings: Settings) -> None:
    """The keys as the secret holds them now; if it cannot be read, none."""
    try:
        keys = load_api_keys(settings.api_keys, settings.api_keys_secret)
    except KeysUnavailable:
        replace_api_keys(app, ())  # fail closed, even should the copy go on serving
        raise
    replace_api_keys(app, keys)
    log.info("API keys read again after the restore: %d configured", len(keys))
