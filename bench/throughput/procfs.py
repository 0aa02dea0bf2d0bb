"""What /proc says about the processes of a run: a server's workers, their memory, where the
clients' connections fell, and the CPU time of the machine and of the benchmark's processes."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .servers import Server


def children(pid: int) -> list[int]:
    """Child pids of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; field 2, the command, may hold spaces: cut after its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def split(server: Server) -> tuple[int, ...]:
    """How many established connections to the server's port each worker holds."""
    port = f":{server.port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if f[1].endswith(port) and f[3] == "01":  # local address, ESTABLISHED
                    inodes.add(f"socket:[{f[9]}]")
    return tuple(_sockets_in(pid, inodes) for pid in server.worker_pids())


def _sockets_in(pid: int, inodes: set[str]) -> int:
    n = 0
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                n += os.readlink(fd) in inodes
    return n


class CpuMeter:
    """How much of the machine's CPU went to work other than this benchmark while a row ran:
    all busy time (/proc/stat) less the server's processes, PostgreSQL's, this script's and
    its load generator's (a waited-for child). Other work on a shared machine lowers every
    figure; this column says which rows to distrust."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        total, idle = sum(fields), fields[3] + fields[4]
        ours = sum(cpu_ticks(p) for p in [*self.server_pids, *_postgres_pids()])
        t = os.times()
        ours += (t.user + t.system + t.children_user + t.children_system) * _TICKS
        return total, total - idle, ours

    def others(self) -> float:
        end = self._sample()
        total, busy, ours = (b - a for a, b in zip(self.start, end, strict=True))
        return max(0.0, (busy - ours) / total) if total else 0.0


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _postgres_pids() -> list[int]:
    """PostgreSQL's server processes (read only, to count their CPU as the benchmark's)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                found.append(int(entry.name))
    return found


def cpu_busy(seconds: float = 1.0) -> float:
    """The share of all CPUs busy over ``seconds``, from /proc/stat (before we load them)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)
