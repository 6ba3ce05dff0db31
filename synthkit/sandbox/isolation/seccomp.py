"""A seccomp filter for every worker and run: no shared memory outside the
limits, no nested user namespace. Built here (pure ``struct``), loaded by the
launcher (``load``, ctypes) just before it ``exec``s the worker, or handed to
bubblewrap (``--seccomp``); the worker and each run inherit it, and nothing can
remove a seccomp filter.

Denied with EPERM: ``memfd_create`` and ``memfd_secret`` (memory no rlimit
counts, and native code run from a memfd), SysV ``shmget`` and POSIX
``mq_open``, ``unshare``/``clone`` asking for a new user namespace (full
capabilities inside it), ``setsockopt`` of ``SO_SNDBUF``/``SO_RCVBUF`` and their
``FORCE`` forms (socket buffers are kernel memory no rlimit counts: at the default
size, ``max_open_files`` sockets hold a few MiB, at the largest hundreds), io_uring
(whose requests seccomp never sees), and on
x86_64 every x32 and i386 system call (a filter keyed on one ABI's numbers must
not be bypassed through another).
``clone3`` gets ENOSYS, so the C library falls back to ``clone``, whose flags
the filter can read. POSIX shared memory (``shm_open``) is a file in
``/dev/shm``, a size-capped tmpfs counted in the run's memory (``confine``).
Other architectures get no filter (``build`` returns None; ``Sandbox`` says so).
"""

from __future__ import annotations

import errno
import os
import platform
import struct

LD_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
CLONE_NEWUSER = 0x10000000
X32_BIT = 0x40000000
# arch -> (AUDIT_ARCH value, {name: number})
ARCHES = {
    "x86_64": (0xC000003E, {"memfd_create": 319, "memfd_secret": 447, "shmget": 29, "mq_open": 240,
                            "unshare": 272, "clone": 56, "clone3": 435, "setsockopt": 54,
                            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}),
    "aarch64": (0xC00000B7, {"memfd_create": 279, "memfd_secret": 447, "shmget": 194, "mq_open": 180,
                             "unshare": 97, "clone": 220, "clone3": 435, "setsockopt": 208,
                             "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}),
}
# io_uring: its requests never pass through seccomp (a socket option set through a ring would not be seen)
DENIED = ("memfd_create", "memfd_secret", "shmget", "mq_open", "io_uring_setup", "io_uring_enter",
          "io_uring_register")
SOL_SOCKET = 1
SOCKET_BUFFERS = (7, 8, 32, 33)  # SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE


def build(machine: str | None = None) -> bytes | None:
    """The filter as raw ``struct sock_filter`` entries, or None on an architecture not listed."""
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, nr = arch
    deny, nosys, check = "deny", "nosys", "check"
    prog: list[tuple] = [(LD_ABS, 0, 0, 4), (JEQ, 0, deny, audit_arch), (LD_ABS, 0, 0, 0)]
    if audit_arch == ARCHES["x86_64"][0]:
        prog.append((JGE, deny, 0, X32_BIT))
    prog += [(JEQ, deny, 0, nr[name]) for name in DENIED]
    prog += [(JEQ, nosys, 0, nr["clone3"]), (JEQ, check, 0, nr["unshare"]), (JEQ, check, 0, nr["clone"]),
             (JEQ, "sockopt", 0, nr["setsockopt"]), (RET, 0, 0, ALLOW),
             ("sockopt",), (LD_ABS, 0, 0, 24), (JEQ, 0, "allow", SOL_SOCKET), (LD_ABS, 0, 0, 32),
             *[(JEQ, deny, 0, opt) for opt in SOCKET_BUFFERS],
             ("allow",), (RET, 0, 0, ALLOW),
             ("check",), (LD_ABS, 0, 0, 16), (JSET, deny, 0, CLONE_NEWUSER), (RET, 0, 0, ALLOW),
             ("deny",), (RET, 0, 0, ERRNO | errno.EPERM),
             ("nosys",), (RET, 0, 0, ERRNO | errno.ENOSYS)]
    labels, out = {}, []
    for item in prog:
        if len(item) == 1:
            labels[item[0]] = len(out)
        else:
            out.append(item)
    code = b""
    for i, (op, jt, jf, k) in enumerate(out):
        jt, jf = (labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf))
        code += struct.pack("HBBI", op, jt, jf, k)
    return code


def load(filter_bytes: bytes) -> None:
    """Apply the filter to the calling thread (and so to what it ``exec``s and forks). OSError if refused."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(filter_bytes, len(filter_bytes))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(filter_bytes) // 8, ctypes.cast(buf, ctypes.c_void_p))
    for args in ((38, 1, 0, 0, 0), (22, 2, ctypes.addressof(prog), 0, 0)):  # NO_NEW_PRIVS, SET_SECCOMP(FILTER)
        if libc.prctl(*[ctypes.c_ulong(a) for a in args]) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"seccomp: {os.strerror(err)}")
