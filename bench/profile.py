"""Where ours spends its time under load: ``python -m bench.profile``.

Starts ours fresh (as ``bench.run`` does), attaches ``py-spy record`` to it, and
drives it with the closed-loop fleet (``--chargers``, ``--duration``). py-spy
samples the thread that holds the GIL (``--gil``): Python's own CPU time, in the
event loop or in a SQLite connection thread, never a wait. Writes, under ``--out``:

* ``profile-ours.folded.gz``: the folded stacks (``py-spy --format raw``), for
  any flame graph tool;
* ``profile-ours.md``: the functions with the most own time, and the share of
  time per layer (the library that the sampled frame belongs to), per thread.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child
from bench.run import client_argv, raise_open_files
from bench.scenarios import Kind, Scenario
from bench.servers import start

#: Layers, by where a frame's file lives; the first match wins.
LAYERS: tuple[tuple[str, str], ...] = (
    ("central_system/persistence", "ours: persistence"),
    ("central_system/transport", "ours: transport"),
    ("central_system/", "ours: services, domain"),
    ("owner_api/", "ours: API"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("aiosqlite/", "aiosqlite"),
    ("sqlite3/", "sqlite3"),
    ("ocpp/", "ocpp library"),
    ("jsonschema", "jsonschema"),
    ("referencing/", "jsonschema"),
    ("websockets/", "websockets"),
    ("json/", "json"),
    ("asyncio/", "asyncio, selectors"),
    ("selectors.py", "asyncio, selectors"),
    ("logging/", "logging"),
    ("pydantic", "pydantic"),
    ("prometheus_client/", "prometheus"),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True, slots=True)
class Frame:
    function: str
    file: str

    @classmethod
    def parse(cls, text: str) -> Frame:
        match = _FRAME.match(text)
        if match is None:
            return cls(text or "?", "")
        return cls(match["function"], match["file"])

    @property
    def short(self) -> str:
        parts = Path(self.file).parts
        for index, part in enumerate(parts):
            if part in ("site-packages", "python3.11") or part.startswith("python3."):
                return f"{self.function} ({'/'.join(parts[index + 1 :])})"
        for anchor in ("central_system", "owner_api", "simulators", "bench"):
            if anchor in parts:
                return f"{self.function} ({'/'.join(parts[parts.index(anchor) :])})"
        return f"{self.function} ({Path(self.file).name})"

    @property
    def layer(self) -> str:
        for needle, layer in LAYERS:
            if needle in self.file:
                return layer
        if "/python3." in self.file and "site-packages" not in self.file:
            return "standard library"
        return "other" if self.file else "native"


@dataclass(frozen=True, slots=True)
class Stack:
    thread: str
    frames: tuple[Frame, ...]
    samples: int


def parse(lines: Iterable[str]) -> list[Stack]:
    """py-spy ``--format raw --threads``: ``thread (0x..);outer;...;leaf COUNT``."""
    stacks = []
    for line in lines:
        text, _, count = line.rstrip("\n").rpartition(" ")
        if not text or not count.isdigit():
            continue
        parts = text.split(";")
        thread = parts[0] if parts[0].startswith("thread") or "(0x" in parts[0] else "?"
        frames = tuple(Frame.parse(p) for p in (parts[1:] if thread != "?" else parts))
        stacks.append(Stack(thread, frames, int(count)))
    return stacks


def _ours(stack: Stack) -> str:
    """The innermost frame of our code on the stack: whose work this sample is."""
    for frame in reversed(stack.frames):
        if frame.file.endswith("__main__.py"):
            continue  # the process's entry point is on every stack of the loop
        if "central_system/" in frame.file or "owner_api/" in frame.file:
            return frame.short
    if any("sqlalchemy/" in frame.file for frame in stack.frames):
        # SQLAlchemy's async layer runs the ORM in greenlets, whose stacks py-spy
        # shows on their own, without the coroutine of ours that awaits them.
        return "(SQLAlchemy inside a greenlet: the ORM work of a repository call)"
    return "(none of ours on the stack: event loop, websockets, ...)"


def _table(title: str, header: str, rows: Iterable[tuple[str, int]], total: int) -> list[str]:
    lines = [title, "", f"| share | {header} |", "|---|---|"]
    lines += [f"| {100 * n / total:.1f}% | {name} |" for name, n in rows]
    return [*lines, ""]


def summarise(stacks: Sequence[Stack], top: int = 20) -> str:
    total = sum(stack.samples for stack in stacks) or 1
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    for stack in stacks:
        leaf = stack.frames[-1] if stack.frames else Frame("?", "")
        name = f"`{leaf.short}`" if leaf.file else "(native code: no Python frame)"
        own[name] += stack.samples
        layers[leaf.layer] += stack.samples
        callers[_ours(stack)] += stack.samples
    significant = [(layer, n) for layer, n in layers.most_common() if n / total >= 0.005]
    lines = [f"{total} samples of the thread holding the GIL (waits are not sampled).", ""]
    lines += _table("Own time by layer (where the sampled frame is):", "layer", significant, total)
    lines += _table(f"Top {top} functions by own time:", "function", own.most_common(top), total)
    lines += _table(
        "Inclusive time by our innermost function on the stack:",
        "function of ours",
        callers.most_common(15),
        total,
    )
    return "\n".join(lines)


def inclusive(stacks: Sequence[Stack], needles: Sequence[str]) -> dict[str, float]:
    """Share of samples whose stack contains a frame whose function or file has the needle."""
    total = sum(stack.samples for stack in stacks) or 1
    shares = {}
    for needle in needles:
        hit = sum(
            stack.samples
            for stack in stacks
            if any(needle in f"{f.function} {f.file}" for f in stack.frames)
        )
        shares[needle] = round(100 * hit / total, 1)
    return shares


def record(chargers: int, duration: float, rate: int, out: Path) -> Path:
    """Profile ours under the closed-loop fleet; returns the folded stacks file."""
    raise_open_files()
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    server = start("ours", work)
    folded = work / "profile.folded"
    scenario = Scenario(
        f"closed-{chargers}", Kind.FLEET, chargers, chargers / 2, duration, drain_limit=8
    )
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    spy = Child.start(
        "py-spy",
        [
            py_spy,
            "record",
            "--pid",
            str(server.child.pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--threads",
            "--full-filenames",
            # Only the thread holding the GIL: Python's CPU time, never a thread waiting.
            "--gil",
            "--output",
            str(folded),
        ],
    )
    try:
        client = Child.start("client", client_argv(scenario, server.url, work / "fleet.json", 0))
        client.wait(duration + 60)
    finally:
        spy.stop()
        server.child.stop()
    out.mkdir(parents=True, exist_ok=True)
    target = out / "profile-ours.folded.gz"
    with folded.open("rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    shutil.copy(work / "fleet.json", out / "profile-ours.fleet.json")
    shutil.rmtree(server.workdir, ignore_errors=True)
    return target


def _load_line(out: Path) -> str:
    """What the fleet did while the profile was taken, from its summary."""
    try:
        fleet = json.loads((out / "profile-ours.fleet.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    window = fleet.get("window") or {}
    return (
        f"Load: `python -m bench.load --fleet {fleet['chargers']} --rate 0` for"
        f" {window.get('seconds', '?')} s after the boot; {fleet['connected']} connected,"
        f" all booted in {fleet['boot_time_s']} s, {window.get('messages_per_s')} messages/s"
        f" once booted, {fleet['errors']} errors.\n\n"
    )


def _read_lines(path: Path) -> list[str]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as zipped:
            return zipped.readlines()
    return path.read_text(encoding="utf-8").splitlines()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--folded", type=Path, help="only summarise this folded file (.gz too)")
    args = parser.parse_args(argv)
    folded = args.folded or record(args.chargers, args.duration, args.rate, args.out)
    stacks = parse(_read_lines(folded))
    needles = (
        "sqlalchemy/",
        "sqlalchemy/orm",
        "aiosqlite",
        "central_system/persistence",
        "central_system/transport/validation",
        "websockets/",
        "message_log",
        "json/",
        "logging/",
    )
    shares = inclusive(stacks, needles)
    body = summarise(stacks) + "\nInclusive (any frame on the stack):\n\n"
    body += "\n".join(f"- `{needle}`: {share}%" for needle, share in shares.items()) + "\n"
    report = args.out / "profile-ours.md"
    heading = "# Profile of ours under closed-loop load\n\n" + _load_line(args.out)
    report.write_text(heading + body, encoding="utf-8")
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
