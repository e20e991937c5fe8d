"""Start-up cost of the CLI's read commands: wall and CPU seconds of whole processes.

    .venv/bin/python bench/startup_bench.py [--runs 7] [--importtime]

Prepares a SQLite store migrated and loaded with the demo config (`reconciler reconcile --all`
once), then runs `reconciler conflicts list --json`, `reconciler status --json` and
`reconciler --help` as fresh processes, `--runs` times each; reports the median wall time and
the median CPU time (user + system, from `os.wait4`) of a run. `--importtime` adds the largest
imports of `conflicts list` (`python -X importtime`, cumulative microseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "conflicts list": ["conflicts", "list", "--json"],
    "status": ["status", "--json"],
    "--help": ["--help"],
}


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {err.strip()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, code


def medians(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Median wall and CPU seconds of `runs` fresh processes."""
    samples = [run(argv, env) for _ in range(runs)]
    return {
        "wall_s": round(statistics.median(s[0] for s in samples), 3),
        "cpu_s": round(statistics.median(s[1] for s in samples), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--redis", metavar="URL", help="also time `status` with REDIS_URL=URL (its queue depth read from Redis)")
    args = ap.parse_args(argv)
    exe = [sys.executable, "-c", "from reconciler.cli import main; main()"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/store.db",
            "RECONCILER_CONFIG": str(ROOT / "reconciler" / "examples" / "demo.toml"),
            "PYTHONDONTWRITEBYTECODE": "0",
        }
        for var in ("ASANA_TOKEN", "SLACK_BOT_TOKEN", "REDIS_URL"):
            env.pop(var, None)
        run([*exe, "reconcile", "--all"], env)  # migrates and fills the store
        results: dict[str, dict[str, float]] = {}
        for name, command in COMMANDS.items():
            run([*exe, *command], env)  # warm the file cache and bytecode
            results[name] = medians([*exe, *command], env, args.runs)
        if args.redis:
            with_redis = {**env, "REDIS_URL": args.redis}
            run([*exe, *COMMANDS["status"]], with_redis)
            results["status, with REDIS_URL"] = medians([*exe, *COMMANDS["status"]], with_redis, args.runs)
        results["python -c pass"] = medians([sys.executable, "-c", "pass"], env, args.runs)
        imports: list[tuple[int, str]] = []
        if args.importtime:
            proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "from reconciler.cli import main; main()",
                                   *COMMANDS["conflicts list"]], env=env, capture_output=True, text=True, cwd=ROOT)
            for line in proc.stderr.splitlines():
                if line.startswith("import time:") and line.count("|") == 2:
                    _, cumulative, name = line.removeprefix("import time:").split("|")
                    # the name is indented two spaces per level of nesting, after one space
                    if cumulative.strip().isdigit() and not name[1:].startswith(" "):
                        imports.append((int(cumulative), name.strip()))
            imports = sorted(imports, reverse=True)[:15]
    if args.json:
        print(json.dumps({"commands": results, "imports": imports}))
        return 0
    print("| command | wall (median) | CPU (median) |")
    print("|---|---|---|")
    for name, r in results.items():
        print(f"| `{name}` | {r['wall_s']} s | {r['cpu_s']} s |")
    if imports:
        print("\nlargest top-level imports of `conflicts list` (cumulative):")
        for us, name in imports:
            print(f"  {us / 1000:8.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
