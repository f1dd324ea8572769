"""A local launchpad server: secantusdb with ``findAndModify`` made atomic, for FireWorks.

FireWorks draws every firework id and launch id from a counter document with
``find_one_and_update({}, {"$inc": ...})`` and trusts the returned pre-image to be the
value *its* write replaced, as MongoDB guarantees. secantusdb 0.7.0b3 (the MongoDB-
compatible server ``scripts/setup.sh`` installs for a laptop or a test launchpad) applies
the ``$inc`` atomically but answers with a pre-image read before the write: three clients
incrementing one counter 300 times each got 556 to 720 distinct values out of 900. Two
concurrent ``rlaunch`` workers then receive the same launch id and one worker's launch
document overwrites the other's (the firework runs once, but its launch record is lost;
seen in CI as ``test_three_concurrent_workers_run_each_firework_once``).

secantusdb serves each connection in a thread of one process, so holding one lock around
its ``findAndModify`` handler makes find, write and reply one step again. A real MongoDB
needs none of this; ``pyacemaker launchpad-server`` only starts secantusdb patched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Handler = Callable[..., Any]
FIND_AND_MODIFY = ("findAndModify", "findandmodify")


def _locked(handler: Handler, lock: threading.Lock) -> Handler:
    """``handler`` run under ``lock``, marked so that patching twice wraps once."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return handler(*args, **kwargs)

    run.serialized = True  # type: ignore[attr-defined]
    return run


def serialize_find_and_modify(handlers: dict[str, Handler]) -> None:
    """Replace the ``findAndModify`` handlers of a command table by one-at-a-time ones."""
    lock = threading.Lock()
    for name in FIND_AND_MODIFY:
        if not getattr(handlers[name], "serialized", False):
            handlers[name] = _locked(handlers[name], lock)


def serve(argv: list[str]) -> int:
    """Run secantusdb's server (its own flags in ``argv``) with the patched handlers."""
    from secantus import cli, commands

    serialize_find_and_modify(commands._HANDLERS)
    code: int = cli.main(argv)
    return code
