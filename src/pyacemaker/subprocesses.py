"""Engine child processes (pacemaker, MACE training, pw.x) die with the run that started them.

``kill -9`` of ``pyacemaker run`` during an ACE fit used to leave pacemaker running,
re-parented to init and still writing into the stage folder while the resumed run
fitted in the same folder. On Linux each engine command is started through
util-linux's ``setpriv --pdeathsig KILL``, which sets ``PR_SET_PDEATHSIG`` and execs
the engine in place: the kernel kills the engine when the run dies, however it died.
(``preexec_fn`` with ``prctl`` would do the same but is unsafe in a process with
threads, as this one is: torch, TensorFlow.) Without ``setpriv`` the command is
unchanged and the engine survives a killed run, as before.
"""

from __future__ import annotations

import shutil
import sys


def tied_to_parent(command: list[str]) -> list[str]:
    """``command`` prefixed so that the engine is killed when this process dies.

    A program that cannot be found is left alone, so that starting it still raises
    FileNotFoundError (callers turn that into "not installed" messages).
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None or shutil.which(command[0]) is None:
        return command
    return [setpriv, "--pdeathsig", "KILL", "--", *command]
