"""Clean-up after a run, inside the worker: kill what the run left, empty its folders.

``sweep()`` kills and reaps every other process of the worker's PID namespace
(the worker is its PID 1); ``kill_uid(uid)`` does the same by uid in basic
isolation; ``empty(path, ...)`` removes what a run left in a folder of ours
(symlinks not followed, locked folders unlocked, no recursion), its extended
attributes and its times included, and says whether it is empty again. Loaded
into the worker as source, like the rest of ``inside``.
"""

from __future__ import annotations

import os
import signal
import time

XATTRS_OFF = False  # bench/sandbox.py only: the cost of clearing xattrs
_CLEAN: dict[str, tuple] = {}  # path -> _looks() of the directory when last found empty
# the times every emptied directory gets back: a run could leave bits in them (utime, or when it changed it)
_TIMES_NS = (time.time_ns() // 10**9 * 10**9,) * 2


def sweep() -> None:
    """Kill and reap every other process in this PID namespace (we are its PID 1)."""
    if os.getpid() != 1:  # never outside our own namespace: kill(-1) would hit the whole machine
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def kill_uid(uid: int) -> None:
    """Basic isolation as root: kill every process of the run uid (daemons that
    left the session too), from a helper that takes that uid: kill(-1) then
    reaches exactly those."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(100):
                os.kill(-1, signal.SIGKILL)
        except BaseException:  # ProcessLookupError: none left
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def empty(path: str, mode: int | None, owner: int | None, tmpfs: bool = True) -> bool:
    """Remove what a run left in a directory of ours, symlinks not followed and
    directories the run locked (mode 000) unlocked first, without recursion (a
    run may nest thousands deep). Then give the directory back its ``owner``
    and ``mode`` (when not None) and fixed times. True when it is empty again.

    Most runs leave nothing: a directory whose size (tmpfs counts its entries
    in it), mode, owner and times are what they were when last found empty is left
    alone, for the price of one ``lstat`` (``tmpfs`` False: no such shortcut)."""
    if not XATTRS_OFF and not _clear_xattrs(path):
        return False
    st = os.lstat(path)
    if tmpfs and _CLEAN.get(path) == _looks(st):
        return True
    stack, dirs = [path], []
    while stack:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except PermissionError:
            _unlock(top)
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    _unlock(entry.path)
                    stack.append(entry.path)
                    dirs.append(entry.path)
                else:
                    try:
                        os.unlink(entry.path)
                    except PermissionError:
                        _unlock(top)
                        os.unlink(entry.path)
            except OSError:
                pass
    for d in reversed(dirs):
        try:
            os.rmdir(d)
        except OSError:
            pass
    try:
        if os.geteuid() == 0 or os.lstat(path).st_uid == os.geteuid():  # bwrap's may be root's
            if owner is not None:
                os.chown(path, owner, owner)
            if mode is not None:
                os.chmod(path, mode)
            os.utime(path, ns=_TIMES_NS, follow_symlinks=False)
        if os.listdir(path):
            return False
        if tmpfs:
            st = os.lstat(path)
            _CLEAN[path] = _looks(st)
        return True
    except OSError:
        return False


def _looks(st: os.stat_result) -> tuple:
    """What a run could leave in a directory besides its entries and xattrs."""
    return st.st_size, st.st_mode, st.st_uid, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns


def _clear_xattrs(path: str) -> bool:
    """Remove the extended attributes a run set on the folder itself (its files go
    whole); True when none is left."""
    try:
        for name in os.listxattr(path, follow_symlinks=False):
            os.removexattr(path, name, follow_symlinks=False)
        return not os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        return e.errno in (95, 61)  # EOPNOTSUPP, ENODATA: nothing can be there


def _unlock(path: str) -> None:
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
