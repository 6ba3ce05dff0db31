"""What a sandboxed worker may see, computed the same way for every mechanism.

``view_plan`` decides which host paths a worker needs (the interpreter, its
libraries, the package) and which directories to cover so that nothing else
shows; ``masked_files`` lists lib-dynload modules hidden from programs;
``_exec_only_loader`` makes the execute-only loader copy that keeps a worker
non-dumpable. ``_isolate`` (namespaces set up by synthkit) and ``_bwrap``
(bubblewrap) both build their view from these, so the two mechanisms promise
the same containment.
"""

from __future__ import annotations

import glob
import os
import struct
import sys

MFD_CLOEXEC, MFD_EXEC = 1, 0x10
HIDDEN = ("/root", "/home", "/run", "/mnt", "/media", "/srv", "/var/tmp", "/proc")
MASKED = ("_ctypes*", "_test*", "_xx*", "xx*")  # in lib-dynload: raw memory, or crash helpers


def _exec_only_loader() -> list:
    """``[fd, argv0, ...]``: an execute-only copy of the dynamic loader (or of a
    static interpreter) in a memfd. ``exec`` of a file the process cannot read
    makes the new image non-dumpable; the loader then runs the real
    interpreter, found at its usual path."""
    exe = os.path.realpath(sys.executable)
    loader = elf_interpreter(exe)
    fd = _memfd("synthkit-loader")
    with open(loader or exe, "rb") as f:
        data = f.read()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fchmod(fd, 0o111)
    os.lseek(fd, 0, os.SEEK_SET)  # bwrap copies it from the current offset
    return [fd, loader] if loader else [fd]


def _memfd(name: str) -> int:
    try:
        return os.memfd_create(name, MFD_CLOEXEC | MFD_EXEC)
    except OSError:  # kernels before 6.3 do not know MFD_EXEC; their memfds are executable
        return os.memfd_create(name, MFD_CLOEXEC)


def elf_interpreter(path: str) -> str | None:
    """The PT_INTERP path of an ELF executable (its dynamic loader), or None."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            return None
        wide, endian = head[4] == 2, "<" if head[5] == 1 else ">"
        if wide:
            phoff, phentsize, phnum = struct.unpack_from(endian + "Q", head, 32)[0], *struct.unpack_from(
                endian + "HH", head, 54)
        else:
            phoff, phentsize, phnum = struct.unpack_from(endian + "I", head, 28)[0], *struct.unpack_from(
                endian + "HH", head, 42)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ph = f.read(phentsize)
            if struct.unpack_from(endian + "I", ph, 0)[0] == 3:  # PT_INTERP
                offset, size = struct.unpack_from(endian + ("Q16xQ" if wide else "I8xI"), ph,
                                                  8 if wide else 4)
                f.seek(offset)
                return f.read(size).split(b"\0", 1)[0].decode()
    return None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def masked_files() -> list[str]:
    dynload = [p for p in sys.path if p.endswith("lib-dynload") and os.path.isdir(p)]
    return sorted({f for d in dynload for pattern in MASKED for f in glob.glob(os.path.join(d, pattern))
                   if os.path.isfile(f)})


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _minimal(paths: list[str]) -> list[str]:
    """Drop every path that lies under another one in the list."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(_under(p, q) for q in out):
            out.append(p)
    return out


def _closed_ancestors(needed: list[str]) -> list[str]:
    """The highest directory above each needed path that others cannot traverse."""
    out = []
    for p in needed:
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            anc = "/" + "/".join(parts[:i])
            if not os.stat(anc).st_mode & 0o001:
                out.append(anc)
                break
    return out


def view_plan(needed: list[str]) -> tuple[list[str], list[tuple[str, list[str]]], str]:
    """(needed paths, [(directory to cover, needed paths under it)], working directory)."""
    needed = _minimal([p for p in map(os.path.realpath, filter(os.path.exists, needed))
                       if not any(_under(top, p) for top in HIDDEN + ("/tmp",))])
    tops = [t for t in _minimal(list(HIDDEN) + _closed_ancestors(needed)) if os.path.isdir(t) and t != "/"]
    workdir = "/tmp/.synthkit-run" if any(_under(p, "/tmp") for p in needed) else "/tmp"
    return needed, [(t, [p for p in needed if _under(p, t)]) for t in tops], workdir
