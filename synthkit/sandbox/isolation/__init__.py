"""The launcher side of the sandbox: what sets up a worker's isolation, then ``exec``s it.

``launcher`` (namespaces and mounts for ``root`` and ``userns``), ``bwrap``
(bubblewrap), ``view`` (what a worker may see), ``cgroup`` (its memory
cgroup), ``seccomp`` (its system-call filter). Only this package loads ctypes,
and only in the launcher process, never in a worker. See docs/sandbox.md.
"""
