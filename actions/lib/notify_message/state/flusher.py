"""The digest flusher as a process of its own: ``python -m notify_message.state.flusher``
reads the pack config (JSON) on stdin, flushes what is due, prints one JSON line of reports
and exits; ``--every S`` flushes every S seconds until stopped.

The digest sensor starts one of these when the store holds queued alerts: a fresh
interpreter, as st2 gives an action, rather than HTTP clients and asyncio inside the sensor
container's eventlet-patched process.  Killing one mid-send loses nothing (see digest).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..config.pack import PackConfig
from .digest import flush_reports

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notify_message.state.flusher")
    parser.add_argument("--every", type=float, default=0.0,
                        help="flush every this many seconds until stopped (default: once)")
    args = parser.parse_args(argv)
    config = PackConfig.from_mapping(json.loads(sys.stdin.read() or "{}"))
    while True:
        status, reports, note = flush_reports(config)
        print(json.dumps({"status": status, "digests": reports, "note": note},
                         ensure_ascii=False), flush=True)
        if args.every <= 0:
            return 0 if status else 1
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
