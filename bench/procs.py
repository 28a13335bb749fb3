"""Child processes of the benchmark: read their lines, sample them, stop them.

Every server and every load generator runs as its own process, so what each
costs is measured by the operating system: CPU time and resident memory from
``psutil`` while it runs, and the exact CPU time of a load generator from
``wait4`` when it ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

#: The repository: children import ``bench`` (not installed) and the project from it.
REPOSITORY = Path(__file__).resolve().parents[1]
#: Seconds a child may take to stop after SIGINT before it is killed.
STOP_GRACE = 15.0


class ChildError(RuntimeError):
    """A child process did not start or did not say what it was expected to."""


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU seconds (user + system) and resident memory of one process at one moment."""

    cpu_s: float
    rss_bytes: int
    at: float


@dataclass(frozen=True, slots=True)
class Exit:
    code: int
    cpu_s: float
    wall_s: float
    #: Stopped by us at its time bound rather than ending by itself.
    cut: bool


class _Lines:
    """Lines read from one pipe by a thread; waiters are woken as each arrives."""

    def __init__(self, stream: IO[str], echo: IO[str] | None) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._changed = threading.Condition()
        self._echo = echo
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if self._echo is not None:
                self._echo.write(line)
                self._echo.flush()
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first line (from the start) that matches, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := pattern.search(line):
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return None
                self._changed.wait(left)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@dataclass
class Child:
    """A running child: its stdout (and stderr, unless sent to a file) as lines."""

    name: str
    popen: subprocess.Popen[str]
    stdout: _Lines
    stderr: _Lines | None
    started: float = field(default_factory=time.monotonic)
    _exit: Exit | None = None
    _cut: bool = False

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        stderr_file: Path | None = None,
        stdin: bool = False,
        echo: IO[str] | None = None,
    ) -> Child:
        err_target: int | IO[str] = subprocess.PIPE
        err_handle = None
        if stderr_file is not None:
            err_handle = stderr_file.open("w", encoding="utf-8")
            err_target = err_handle
        popen = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            list(argv),
            cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_target,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPOSITORY)},
        )
        if err_handle is not None:
            err_handle.close()  # the child has its own descriptor
        assert popen.stdout is not None
        stderr = None
        if stderr_file is None:
            assert popen.stderr is not None
            stderr = _Lines(popen.stderr, echo)
        return cls(name, popen, _Lines(popen.stdout, None), stderr)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def expect(self, pattern: str, timeout: float) -> re.Match[str]:
        match = self.stdout.wait_for(re.compile(pattern), timeout)
        if match is None:
            self.stop()
            raise ChildError(f"{self.name} did not print /{pattern}/ within {timeout:.0f} s")
        return match

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def usage(self) -> Usage | None:
        try:
            process = psutil.Process(self.pid)
            with process.oneshot():
                times = process.cpu_times()
                rss = process.memory_info().rss
        except psutil.Error:
            return None
        return Usage(times.user + times.system, rss, time.monotonic())

    def wait(self, timeout: float) -> Exit:
        """Wait for the child to end; at ``timeout`` stop it (SIGINT, then SIGKILL)."""
        return self._reap(threading.Timer(timeout, self._interrupt))

    def _reap(self, timer: threading.Timer) -> Exit:
        """Wait for the child with ``wait4`` (its CPU time), ``timer`` running meanwhile."""
        if self._exit is not None:
            return self._exit
        timer.start()
        try:
            _, status, rusage = os.wait4(self.pid, 0)
        finally:
            timer.cancel()
        code = os.waitstatus_to_exitcode(status)
        self.popen.returncode = code  # reaped here, with its resource usage
        self._exit = Exit(
            code, rusage.ru_utime + rusage.ru_stime, time.monotonic() - self.started, self._cut
        )
        self.stdout.join(5)
        if self.stderr is not None:
            self.stderr.join(5)
        return self._exit

    def _interrupt(self) -> None:
        self._cut = True
        self._signal(signal.SIGINT)
        killer = threading.Timer(STOP_GRACE, lambda: self._signal(signal.SIGKILL))
        killer.daemon = True
        killer.start()

    def _signal(self, number: int) -> None:
        if self._exit is None and self.popen.returncode is None:
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                return

    def kill(self) -> Exit:
        """SIGKILL: for a load generator whose summary is written, so nothing is lost."""
        self._signal(signal.SIGKILL)
        return self.wait(STOP_GRACE)

    def stop(self, grace: float = STOP_GRACE) -> Exit:
        """SIGINT, and SIGKILL if it has not ended ``grace`` seconds later."""
        self._signal(signal.SIGINT)
        return self._reap(threading.Timer(grace, lambda: self._signal(signal.SIGKILL)))


class Sampler:
    """Samples processes every ``period`` seconds from a thread: the peak RSS of each."""

    def __init__(self, children: Sequence[Child], period: float = 0.5) -> None:
        self._children = list(children)
        self._period = period
        self._done = threading.Event()
        self.peak_rss: dict[str, int] = {child.name: 0 for child in children}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._period):
            for child in self._children:
                usage = child.usage()
                if usage is not None:
                    self.peak_rss[child.name] = max(self.peak_rss[child.name], usage.rss_bytes)


def wait_until_quiet(
    child: Child, *, busy_share: float = 0.05, window: float = 0.5, limit: float = 2.0
) -> float:
    """Poll until ``child`` uses under ``busy_share`` of a core over ``window`` seconds.

    Returns the seconds it took (``limit`` at most): what a server still had to do
    after its clients went quiet (commands after a boot, a batch of writes).
    """
    started = time.monotonic()
    previous = child.usage()
    while previous is not None and time.monotonic() - started < limit:
        time.sleep(window)  # polling a measurement: there is no event to wait for
        current = child.usage()
        if current is None:
            break
        share = (current.cpu_s - previous.cpu_s) / max(current.at - previous.at, 1e-9)
        if share < busy_share:
            break
        previous = current
    return time.monotonic() - started
