"""What a sandboxed worker may see, computed the same way for every mechanism.

The view is an allow-list: the interpreter, its shared library, the standard
library and the preloaded packages (``interpreter_paths``), on top of the
system folders (``SYSTEM``: /usr, /lib*, /bin, /sbin, /etc, /dev). Every other
top-level folder (homes, /work, /opt, /var, /srv, /proc, /sys, ...) and every
folder of installed packages (site-packages, dist-packages, the synthkit
package itself) is covered with an empty tmpfs, with the needed paths bound
back (``view_plan``). So no synthkit data file, task set, run folder, LLM
cache or home directory is reachable by path; the worker gets its own code as
source (``worker_sources``). ``masked_files`` lists lib-dynload modules hidden
from programs; ``_exec_only_loader`` makes the execute-only loader copy that
keeps a worker non-dumpable. ``launcher`` and ``bwrap`` both build from these.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import struct
import sys
import sysconfig

MFD_CLOEXEC, MFD_EXEC = 1, 0x10
HIDDEN = ("/root", "/home", "/run", "/mnt", "/media", "/srv", "/var/tmp", "/proc")
SYSTEM = ("bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "tmp", "usr")  # top-level folders kept
PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the synthkit package
# the worker's code, in import order; it gets these as source, never by path
WORKER_MODULES = ("synthkit.sandbox.wire", "synthkit.sandbox.units", "synthkit.sandbox.inside.confine",
                  "synthkit.sandbox.inside.harness", "synthkit.sandbox.inside.cleanup", "synthkit.sandbox.inside.worker")
SYSTEM_PACKAGES = ("/usr/lib/python3*/*-packages", "/usr/lib64/python3*/*-packages", "/usr/local/lib/python3*/*-packages",
                   "/usr/lib/python3/dist-packages", "/usr/share/python3*/*-packages")
MASKED = ("_ctypes*", "_test*", "_xx*", "xx*")  # in lib-dynload: raw memory, or crash helpers


def _exec_only_loader(exe: str | None = None) -> list:
    """``[fd, argv0, ...]``: an execute-only copy of the dynamic loader (or of a
    static interpreter) in a memfd. ``exec`` of a file the process cannot read
    makes the new image non-dumpable; the loader then runs the real
    interpreter, found at its usual path."""
    exe = exe or os.path.realpath(sys.executable)
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
    """Files covered with /dev/null: the lib-dynload modules in ``MASKED`` and every
    regular file at the top level (``/`` holds folders; a file there is a container's or
    an installer's, never the interpreter's)."""
    dynload = [p for p in sys.path if p.endswith("lib-dynload") and os.path.isdir(p)]
    top = ["/" + e for e in os.listdir("/") if os.path.isfile("/" + e) and not os.path.islink("/" + e)]
    return sorted({f for d in dynload for pattern in MASKED for f in glob.glob(os.path.join(d, pattern))
                   if os.path.isfile(f)} | set(top))


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


def interpreter_paths(preload: list[str]) -> list[str]:
    """What a worker needs to see: the interpreter, its installation's lib folder
    (shared libraries, the standard library: zip, folder, lib-dynload) and each
    preloaded package that is not in the standard library (with its
    ``<name>.libs`` folder). A Python whose extension modules link to libraries
    outside these and the system folders cannot load those modules in a run."""
    stdlib = os.path.dirname(os.__file__)
    # the installation's lib folder: the standard library and the shared libraries its extension modules
    # link to (conda, uv and pyenv keep libcrypto, libffi... there); its site-packages are covered
    paths = [os.path.realpath(sys.executable), os.path.join(sys.base_prefix, "lib"), stdlib]
    paths += [p for p in sys.path if p.endswith(("lib-dynload", ".zip"))]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("LDLIBRARY") or "")
        paths += [lib, os.path.realpath(lib)]
    for name in preload:
        paths += _package_paths(name.split(".")[0], stdlib)
    return [p for p in dict.fromkeys(paths) if p and os.path.exists(p)]


def _package_paths(name: str, stdlib: str) -> list[str]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return []
    where = list(spec.submodule_search_locations or []) or [spec.origin]
    if all(_under(os.path.realpath(p), os.path.realpath(stdlib)) for p in where):
        return []
    parents = {os.path.dirname(p.rstrip("/")) for p in where}
    return where + [d for parent in parents for d in glob.glob(os.path.join(parent, f"{name}*.libs"))]


def worker_paths(needed: list[str]) -> list[str]:
    """The worker's ``sys.path``: the standard library's entries, then the folders
    holding the preloaded packages."""
    std = [p for p in sys.path if p == os.path.dirname(os.__file__) or p.endswith(("lib-dynload", ".zip"))]
    extra = [os.path.dirname(p.rstrip("/")) for p in needed if os.path.isdir(p) and p not in std
             and os.path.exists(os.path.join(p, "__init__.py"))]
    return list(dict.fromkeys(std + extra))


def worker_sources() -> list[list[str]]:
    """``[module name, source]`` of the worker's code, in import order."""
    out = []
    for name in WORKER_MODULES:
        with open(os.path.join(os.path.dirname(PACKAGE), *name.split(".")) + ".py", encoding="utf-8") as f:
            out.append([name, f.read()])
    return out


def _package_dirs() -> list[str]:
    """Folders of installed packages (and synthkit's own), covered in every view."""
    stdlib = os.path.dirname(os.__file__)
    dirs = [p for p in sys.path if os.path.basename(p.rstrip("/")) in ("site-packages", "dist-packages")]
    dirs += [os.path.join(stdlib, "site-packages"), os.path.join(stdlib, "dist-packages"), PACKAGE]
    dirs += [d for pattern in SYSTEM_PACKAGES for d in glob.glob(pattern)]  # the system Python's, on no sys.path here
    return [os.path.realpath(d) for d in dict.fromkeys(dirs) if os.path.isdir(d)]


def view_plan(needed: list[str]) -> tuple[list[str], list[tuple[str, list[str]]], str]:
    """(needed paths, [(directory to cover, needed paths under it)], working directory).

    Covers run in the order given: a later one may lie inside a needed path an
    earlier one bound back (site-packages inside the standard library's
    folder); one that would lie in an emptied folder is left out."""
    needed = _minimal([p for p in map(os.path.realpath, filter(os.path.exists, needed))
                       if not any(_under(top, p) for top in HIDDEN + ("/tmp",))])
    tops = ["/" + e for e in sorted(os.listdir("/")) if e not in SYSTEM and os.path.isdir("/" + e)
            and not os.path.islink("/" + e)]
    tops = _minimal(tops + list(HIDDEN) + _closed_ancestors(needed))
    covers = [t for t in tops if os.path.isdir(t) and t != "/"]
    workdir = "/tmp/.synthkit-run" if any(_under(p, "/tmp") for p in needed) else "/tmp"
    # /tmp is emptied too: by the working directory's tmpfs, or (when the interpreter lives there) by a cover
    if workdir != "/tmp":
        covers.append("/tmp")
    for d in sorted(_package_dirs(), key=len):
        outer = [c for c in covers + ["/tmp"] if _under(d, c)]
        if not any(_under(d, c) and not any(_under(d, p) for p in needed) for c in outer) and d not in covers:
            covers.append(d)
    return needed, [(t, [p for p in needed if _under(p, t)]) for t in covers], workdir
