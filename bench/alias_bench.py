"""CPU per message of the Slack connector's deliverable linking at a growing number of aliases.

    python bench/alias_bench.py [--aliases 400,4000,16000] [--messages 10000]

The messages are the generated workspace's (bench/generate.py at scale 0.1, its 200 deliverables'
keys and hashtags as the first 400 aliases); larger alias sets add deliverables named the way the
generator names them (`adj-noun-NNNN` and `#adnoNNNN`), two aliases each, which the messages never
mention: what is measured is what the number of configured aliases costs each message.
Reported: CPU microseconds per message of `DeliverableLinker.mentions` (one core,
`time.process_time`, best of three passes) and of building the linker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate import ADJECTIVES, NOUNS, Scale, generate  # noqa: E402
from connectors.base import DeliverableIndex, DeliverableRef  # noqa: E402
from connectors.slack.links import DeliverableLinker  # noqa: E402


def workspace(messages: int) -> tuple[list[str], list[DeliverableRef]]:
    scenario, toml, _manifest = generate(Scale(scale=0.1, anchor=date(2026, 11, 25)))
    texts = [str(m.get("text") or "") for m in scenario["slack"]["messages"]]
    config = tomllib.loads(toml)
    refs = [DeliverableRef(key=d["key"], aliases=tuple(d.get("aliases") or ())) for d in config["deliverables"]]
    return texts[:messages], refs


def padded(refs: list[DeliverableRef], aliases: int) -> list[DeliverableRef]:
    out = list(refs)
    i = 10_000
    while 2 * len(out) < aliases:
        adj, noun = ADJECTIVES[i % len(ADJECTIVES)], NOUNS[(i // len(ADJECTIVES)) % len(NOUNS)]
        out.append(DeliverableRef(key=f"{adj}-{noun}-{i:05d}", aliases=(f"#{adj[:2]}{noun[:2]}{i}",)))
        i += 1
    return out


def measure(texts: list[str], refs: list[DeliverableRef]) -> dict[str, float]:
    index = DeliverableIndex.build(refs)
    started = time.process_time()
    linker = DeliverableLinker(index)
    build = time.process_time() - started
    best = float("inf")
    found = 0
    for _ in range(3):
        started = time.process_time()
        found = sum(len(linker.mentions(t)) for t in texts)
        best = min(best, time.process_time() - started)
    return {"aliases": len(index.by_alias), "build_ms": round(build * 1000, 1),
            "us_per_message": round(best / len(texts) * 1e6, 1), "mentions": found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aliases", default="400,4000,16000")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    texts, refs = workspace(args.messages)
    rows = [measure(texts, padded(refs, int(n))) for n in args.aliases.split(",")]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{len(texts)} messages")
    print("| aliases | build the linker | CPU per message | mentions found |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['aliases']:,} | {r['build_ms']} ms | {r['us_per_message']} µs | {r['mentions']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
