"""A memory cgroup for one worker, where one can be had: root, or a cgroup v2
folder delegated to the caller. Then everything the worker's runs hold counts
against the limit (anonymous and shared memory, tmpfs files, page tables,
pipe buffers), across all their processes. Used by the launcher only.

``open_cgroup`` makes ``synthkit-<pid>`` under the caller's own memory cgroup
(v2 where the memory controller is there, else v1) and keeps descriptors of
its files, so it still works after the launcher's view hides /sys. The worker
joins it (``join``) before its ``exec``; the launcher sets the limit once the
worker's imports are done (its usage then + the run's ``memory_mb``), and
removes the folder when the worker is gone. A folder left by a killed
launcher is removed by the next one. Raises OSError (with the reason) where
no cgroup can be made; the sandbox then bounds memory with rlimits and
``seccomp``.
"""

from __future__ import annotations

import os

from synthkit.sandbox.isolation.view import _read

ROOT = "/sys/fs/cgroup"


class Cgroup:
    def __init__(self, parent: str, version: int) -> None:
        self.version, self.name = version, f"synthkit-{os.getpid()}"
        _sweep(parent)
        path = os.path.join(parent, self.name)
        os.mkdir(path, 0o755)
        try:
            limit = "memory.max" if version == 2 else "memory.limit_in_bytes"
            if not os.path.exists(os.path.join(path, limit)):
                raise OSError(0, f"the memory controller is not enabled in {parent}")
            self.parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self.fds = {f: os.open(os.path.join(path, f), mode | os.O_CLOEXEC) for f, mode in self._files(path)}
        except OSError:
            os.rmdir(path)
            raise
        self.via = f"cgroup v{version}"

    def _files(self, path: str) -> list[tuple[str, int]]:
        if self.version == 2:
            files = [("cgroup.procs", os.O_WRONLY), ("memory.max", os.O_WRONLY), ("memory.current", os.O_RDONLY),
                     ("memory.events", os.O_RDONLY)]
            return files + ([("memory.swap.max", os.O_WRONLY)] if os.path.exists(f"{path}/memory.swap.max") else [])
        files = [("cgroup.procs", os.O_WRONLY), ("memory.limit_in_bytes", os.O_WRONLY),
                 ("memory.usage_in_bytes", os.O_RDONLY), ("memory.oom_control", os.O_RDONLY)]
        return files + ([("memory.memsw.limit_in_bytes", os.O_WRONLY)]
                        if os.path.exists(f"{path}/memory.memsw.limit_in_bytes") else [])

    def join(self) -> None:
        """Move the calling process into the cgroup (its children follow)."""
        os.write(self.fds["cgroup.procs"], b"0")

    def limit(self, extra_bytes: int) -> None:
        """Allow what the cgroup holds now plus ``extra_bytes``; no swap beyond it."""
        used = int(os.pread(self.fds["memory.current" if self.version == 2 else "memory.usage_in_bytes"], 64, 0))
        value = str(used + extra_bytes).encode()
        if self.version == 2:
            os.write(self.fds["memory.max"], value)
            if "memory.swap.max" in self.fds:
                os.write(self.fds["memory.swap.max"], b"0")
        else:
            os.write(self.fds["memory.limit_in_bytes"], value)
            if "memory.memsw.limit_in_bytes" in self.fds:
                os.write(self.fds["memory.memsw.limit_in_bytes"], value)

    def events_fd(self) -> int:
        """A read-only descriptor whose ``oom_kill N`` line counts the kills (the worker reads it after each run)."""
        return self.fds["memory.events" if self.version == 2 else "memory.oom_control"]

    def remove(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        try:
            os.rmdir(self.name, dir_fd=self.parent_fd)
        except OSError:
            pass
        os.close(self.parent_fd)


def open_cgroup() -> Cgroup:
    """The worker's cgroup; OSError (with why) where none can be made."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError as e:
        raise OSError(0, f"no /proc/self/cgroup ({e})") from None
    reasons = []
    for hier, controllers, rel in lines:
        v2, v1 = hier == "0" and controllers == "", "memory" in controllers.split(",")
        for parent in ([f"{ROOT}{rel}", f"{ROOT}/unified{rel}"] if v2 else [f"{ROOT}/memory{rel}"] if v1 else []):
            if os.path.isdir(parent) and (not v2 or "memory" in _read(f"{parent}/cgroup.controllers").split()):
                try:
                    return Cgroup(parent.rstrip("/"), 2 if v2 else 1)
                except OSError as e:
                    reasons.append(f"{parent}: {e.strerror or e}")
    raise OSError(0, "; ".join(reasons) or "no memory cgroup controller for this process")


def _sweep(parent: str) -> None:
    """Remove cgroups that launchers killed before they could (empty ones only)."""
    for name in os.listdir(parent):
        if name.startswith("synthkit-") and not _alive(name[9:]):
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass


def _alive(pid: str) -> bool:
    return pid.isdigit() and os.path.exists(f"/proc/{pid}")
