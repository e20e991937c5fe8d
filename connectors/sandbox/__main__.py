"""python -m connectors.sandbox --scenario FILE --port 8765: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time

from .scenario import bundled_scenario_path, load_scenario
from .server import Sandbox


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m connectors.sandbox",
                                 description="Serve a fake Asana + Slack API from a scenario file.")
    ap.add_argument("--scenario", help="scenario JSON file (default: the bundled demo)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario or bundled_scenario_path("demo"))
        sandbox = Sandbox(scenario, host=args.host, port=args.port).start()
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:  # Ctrl-C may come as soon as the URLs are out
        print(f"Asana API: {sandbox.asana_base_url}", flush=True)
        print(f"Slack API: {sandbox.slack_base_url}", flush=True)
        print("Serving; press Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
