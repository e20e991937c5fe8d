"""Shared helpers for the benchmarks: machine facts, timing, memory, a sandbox in its own process,
throwaway PostgreSQL databases, and instruments that split wall time between our code and HTTP.

Nothing here needs more than the project's dependencies and the standard library.

`python bench/common.py sandbox-host SCENARIO` is the sandbox process `SandboxProcess` starts: it
serves the scenario on a free loopback port and answers one JSON command per stdin line (request
counts, server time, world changes), so the sandbox's own CPU time is not charged to the process
being measured.
"""

from __future__ import annotations

import contextlib
import cProfile
import functools
import json
import os
import platform
import pstats
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


# -- machine --------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def memory_total_gb() -> float | None:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def postgres_version(dsn: str = POSTGRES_ADMIN_DSN) -> str | None:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]
    except Exception:  # noqa: BLE001 - reported as unavailable
        return None


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = sorted(line[3:] for line in status.splitlines() if line[3:] and not line[3:].startswith("bench/"))
    if changed:
        shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
        rev += f" with uncommitted changes to {shown}"
    return rev


def machine() -> dict[str, Any]:
    import sqlalchemy

    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gb": memory_total_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "revision": git_revision(),
    }


# -- time and memory ------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    pages = int(_read("/proc/self/statm").split()[1] or 0) if _read("/proc/self/statm") else 0
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024, 1)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            for child in _read(f"/proc/{current}/task/{tid}/children").split():
                found.append(int(child))
                todo.append(int(child))
    return found


def _pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between the processes sharing them), else RSS."""
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    pages = _read(f"/proc/{pid}/statm").split()
    return int(pages[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024 if len(pages) > 1 else 0.0


def tree_pss_mb(pid: int | None = None, *, exclude: frozenset[int] = frozenset()) -> float:
    """Memory of a process and every process it started (worker pools), without double-counting
    pages they share; processes in `exclude` (and their children) are left out."""
    pid = pid or os.getpid()
    total = _pss_mb(pid)
    skip: set[int] = set()
    for p in exclude:
        skip.add(p)
        skip.update(_descendants(p))
    for child in _descendants(pid):
        if child not in skip:
            total += _pss_mb(child)
    return round(total, 1)


class MemorySampler:
    """Samples this process's RSS and its process tree's PSS every `interval` seconds in a thread;
    `peak_tree_mb` covers worker processes that `getrusage(RUSAGE_SELF)` does not see."""

    def __init__(self, interval: float = 0.05, *, exclude: frozenset[int] = frozenset()) -> None:
        self.interval = interval
        self.exclude = exclude
        self.peak_tree_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_tree_mb = max(self.peak_tree_mb, tree_pss_mb(exclude=self.exclude))
            self.samples += 1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_tree_mb = max(self.peak_tree_mb, tree_pss_mb(exclude=self.exclude))


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """`with stopwatch() as t: ...` then `t["seconds"]`."""
    out: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - started


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


# -- where sync time goes ---------------------------------------------------------------------


class HttpMeter:
    """Wall time with at least one HTTP request in flight, from both SDKs' transport calls.

    Wraps `asana.rest.RESTClientObject.request` (urllib3: send, wait, read the body) and
    slack_sdk's `_perform_urllib_http_request_internal` (urllib: the same). JSON decoding and
    the SDKs' model handling stay outside, on our side of the line. Concurrent requests (Asana
    fetches stories in a thread pool) count once: the measure is the union of in-flight time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._since = 0.0
        self.busy = 0.0
        self.calls: dict[str, int] = {"asana": 0, "slack": 0}
        self.summed: dict[str, float] = {"asana": 0.0, "slack": 0.0}
        self._undo: list[Callable[[], None]] = []

    def _enter(self) -> float:
        now = time.perf_counter()
        with self._lock:
            if self._in_flight == 0:
                self._since = now
            self._in_flight += 1
        return now

    def _exit(self, client: str, started: float) -> None:
        now = time.perf_counter()
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.busy += now - self._since
            self.calls[client] += 1
            self.summed[client] += now - started

    def _wrap(self, owner: Any, name: str, client: str) -> None:
        original = getattr(owner, name)
        meter = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = meter._enter()
            try:
                return original(*args, **kwargs)
            finally:
                meter._exit(client, started)

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> HttpMeter:
        import asana.rest
        from slack_sdk.web import base_client

        self._wrap(asana.rest.RESTClientObject, "request", "asana")
        self._wrap(base_client.BaseClient, "_perform_urllib_http_request_internal", "slack")
        return self

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def reset(self) -> None:
        with self._lock:
            self.busy = 0.0
            self.calls = {"asana": 0, "slack": 0}
            self.summed = {"asana": 0.0, "slack": 0.0}


class CallTimer:
    """CPU seconds and calls of one function (wrapped on its module or class), summed over the
    threads that call it: the partitions of a sync run in threads, whose wall-clock spans
    overlap and include waiting for the GIL, so each call is charged its own thread's CPU."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name = owner, name
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()
        self._original = getattr(owner, name)
        timer = self
        original = self._original

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with timer._lock:
                    timer.seconds += spent
                    timer.calls += 1

        setattr(owner, name, timed)

    def uninstall(self) -> None:
        setattr(self.owner, self.name, self._original)

    def reset(self) -> None:
        with self._lock:
            self.seconds, self.calls = 0.0, 0


# -- profiles -------------------------------------------------------------------------------

_GROUPS: list[tuple[str, str]] = [
    (str(ROOT / "connectors" / "claims.py"), "connectors.claims (Slack text parser)"),
    (str(ROOT / "connectors" / "sandbox"), "sandbox (in process)"),
    (str(ROOT / "connectors"), "connectors (mapping, cursors)"),
    (str(ROOT / "reconciler" / "store.py"), "reconciler.store"),
    (str(ROOT / "reconciler" / "engine.py"), "reconciler.engine"),
    (str(ROOT / "reconciler" / "rules.py"), "reconciler.rules"),
    (str(ROOT / "reconciler"), "reconciler (other)"),
    (str(ROOT / "bench"), "bench harness"),
    ("/sqlalchemy/", "SQLAlchemy"),
    ("/sqlmodel/", "SQLModel"),
    ("/pydantic", "pydantic"),
    ("/psycopg", "psycopg"),
    ("/asana/", "asana SDK"),
    ("/slack_sdk/", "slack_sdk"),
    ("/urllib3/", "urllib3"),
    ("/dateparser/", "dateparser"),
    ("/regex/", "regex"),
    ("/json/", "json"),
    ("/http/", "http.client"),
    ("/urllib/", "urllib"),
    ("/email/", "email (HTTP headers)"),
    ("/re/", "re"),
    ("/concurrent/", "threads"),
    ("/threading.py", "threads"),
]
_BUILTINS: list[tuple[str, str]] = [
    ("sqlite3", "sqlite3 (C)"),
    ("socket", "socket I/O (waiting on HTTP)"),
    ("select", "socket I/O (waiting on HTTP)"),
    ("lock", "waiting on threads"),
    ("json", "json"),
    ("_sre", "re"),
    ("re.Pattern", "re"),
    ("psycopg", "psycopg"),
]


def _group(filename: str, func: str) -> str:
    if filename == "~" or filename.startswith("<"):
        for needle, label in _BUILTINS:
            if needle in func:
                return label
        return "builtins"
    for needle, label in _GROUPS:
        if needle in filename:
            return label
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0]
    return "stdlib (other)"


def profile_summary(profile: cProfile.Profile | pstats.Stats, *, top: int = 12) -> dict[str, Any]:
    """Own time (tottime) per package, and the functions with the most own time."""
    stats = profile if isinstance(profile, pstats.Stats) else pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    groups: dict[str, float] = {}
    rows = []
    for (filename, line, func), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        label = _group(filename, func)
        groups[label] = groups.get(label, 0.0) + tottime
        short = filename.replace(str(ROOT) + "/", "")
        if "/site-packages/" in short:
            short = short.split("/site-packages/", 1)[1]
        rows.append((tottime, cumtime, calls, f"{short}:{line}({func})"))
    rows.sort(reverse=True)
    return {
        "total_seconds": round(total, 2),
        "by_package": {k: {"seconds": round(v, 2), "share": round(v / total, 3)}
                       for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top_functions": [{"own_s": round(t, 2), "cum_s": round(c, 2), "calls": n, "function": f}
                          for t, c, n, f in rows[:top]],
    }


def cumulative(profile: cProfile.Profile | pstats.Stats, functions: list[tuple[str, str]]) -> dict[str, float]:
    """Cumulative seconds of each (file name ending, function name), e.g. ("store.py", "apply_batch");
    the largest when several match."""
    stats = profile if isinstance(profile, pstats.Stats) else pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for file_end, name in functions:
        best = 0.0
        for (filename, _line, func), value in raw.items():
            if func == name and filename.endswith(file_end):
                best = max(best, value[3])
        out[f"{file_end}:{name}"] = round(best, 3)
    return out


# -- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(prefix: str = "bench") -> Iterator[str]:
    """A fresh PostgreSQL database on the local server, dropped afterwards; yields its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from reconciler.db import engine_for

        engine_for.cache_clear()
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def sqlite_database(directory: Path | None = None) -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="reconciler-bench-", dir=directory) as tmp:
        yield f"sqlite:///{Path(tmp) / 'store.db'}"
        from reconciler.db import engine_for

        engine_for.cache_clear()


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        with sqlite_database() as url:
            yield url


# -- the sandbox in its own process -----------------------------------------------------------


@dataclass
class SandboxProcess:
    """A `connectors.sandbox.Sandbox` serving `scenario` from a child process.

    `counts()` is `Sandbox.request_counts()`, `server_seconds()` the summed time the server spent
    answering (its own CPU, not ours), `apply(ops)` runs `[target, method, args, kwargs]` edits on
    `Sandbox.asana` / `Sandbox.slack` (see bench/generate.py `changes`).
    """

    scenario: Path
    asana_base_url: str = ""
    slack_base_url: str = ""
    load_seconds: float = 0.0
    pid: int = 0
    _proc: subprocess.Popen[str] | None = field(default=None, repr=False)

    def __enter__(self) -> Self:
        started = time.perf_counter()
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "sandbox-host", str(self.scenario)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        self.pid = self._proc.pid
        hello = self._read()
        self.asana_base_url, self.slack_base_url = hello["asana"], hello["slack"]
        self.load_seconds = time.perf_counter() - started
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.write(json.dumps({"op": "stop"}) + "\n")
                proc.stdin.flush()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process ended (see its stderr above)")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"sandbox: {answer['error']}")
        return answer

    def _ask(self, op: str, **args: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def counts(self) -> dict[str, int]:
        return self._ask("counts")["counts"]

    def server_seconds(self) -> float:
        return float(self._ask("counts")["server_seconds"])

    def snapshot(self) -> dict[str, Any]:
        return self._ask("counts")

    def reset(self) -> None:
        self._ask("reset")

    def apply(self, ops: list[list[Any]]) -> int:
        return int(self._ask("apply", ops=ops)["applied"])

    def set_latency(self, seconds: float) -> None:
        """Every answer waits this long first, like a real API's round trip (not server time)."""
        self._ask("latency", seconds=seconds)


def _sandbox_host(scenario_path: str) -> int:
    from connectors.sandbox import Sandbox, load_scenario

    sandbox = Sandbox(load_scenario(scenario_path), port=0)
    lock = threading.Lock()
    server_time = [0.0]
    latency = [0.0]  # seconds every answer waits first (a simulated round trip)
    dispatch = sandbox._dispatch

    def timed_dispatch(handler: Any) -> None:
        if latency[0]:
            time.sleep(latency[0])
        started = time.perf_counter()
        try:
            dispatch(handler)
        finally:
            with lock:
                server_time[0] += time.perf_counter() - started

    sandbox._dispatch = timed_dispatch  # type: ignore[method-assign]
    sandbox.start()
    out = sys.stdout

    def say(payload: dict[str, Any]) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    say({"asana": sandbox.asana_base_url, "slack": sandbox.slack_base_url})
    for line in sys.stdin:
        try:
            command = json.loads(line)
            op = command.get("op")
            if op == "stop":
                break
            if op == "counts":
                with lock:
                    seconds = server_time[0]
                say({"counts": sandbox.request_counts(), "server_seconds": seconds, "cpu_seconds": time.process_time()})
            elif op == "reset":
                sandbox.reset_counts()
                with lock:
                    server_time[0] = 0.0
                say({"ok": True})
            elif op == "latency":
                latency[0] = float(command["seconds"])
                say({"ok": True})
            elif op == "apply":
                for target, method, args, kwargs in command["ops"]:
                    getattr(getattr(sandbox, target), method)(*args, **kwargs)
                say({"applied": len(command["ops"])})
            else:
                say({"error": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            say({"error": f"{type(exc).__name__}: {exc}"})
    sandbox.stop()
    return 0


def counts_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    out = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in sorted(out.items()) if v}


# -- running other bench scripts --------------------------------------------------------------


def run_json(argv: list[str], *, timeout: float | None = None) -> tuple[dict[str, Any], float]:
    """Run a bench script that prints one JSON document; (that document, wall seconds)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): " + " | ".join(tail))
    text = proc.stdout
    start = text.find("{")
    return json.loads(text[start:]), seconds


def profile_call(fn: Callable[[], Any], path: Path | None = None) -> tuple[Any, cProfile.Profile]:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        result = fn()
    finally:
        profiler.disable()
    if path is not None:
        profiler.dump_stats(str(path))
    return result, profiler


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "sandbox-host":
        sys.exit(_sandbox_host(sys.argv[2]))
    print(json.dumps(machine(), indent=2))
