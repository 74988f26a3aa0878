"""The digest flusher as a process of its own: ``python -m notify_message.state.flusher``
reads the pack config (JSON) on stdin or from ``--config-file`` and flushes the digests that
are due, printing one JSON line per flush that sent or failed something.

``--once`` flushes once and exits (status 1 when a digest failed).  By default it serves:
it flushes again as soon as a digest is due (a group interval ending) and at least every
``storm_control.digest.flush_interval`` seconds, and exits once the store has held no
queued alert for ``--idle-exit`` seconds (default 60).  The digest sensor starts one when
the store holds queued alerts: a fresh interpreter, as st2 gives an action, rather than
HTTP clients and asyncio inside the sensor container's eventlet-patched process.  Killing
one mid-send loses nothing (see ``digest``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from ..config.pack import PackConfig
from .digest import flush_digests
from .settings import open_store
from .store import StoreUnavailable

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notify_message.state.flusher")
    parser.add_argument("--once", action="store_true", help="flush once and exit")
    parser.add_argument("--idle-exit", type=float, default=60.0,
                        help="serving: exit after this many seconds without queued alerts")
    parser.add_argument("--config-file", help="read the config (JSON) from this file, then "
                        "delete it (it holds the config's secrets), instead of stdin")
    args = parser.parse_args(argv)
    if args.config_file:
        with open(args.config_file, encoding="utf-8") as f:
            text = f.read()
        os.unlink(args.config_file)
    else:
        text = sys.stdin.read()
    config = PackConfig.from_mapping(json.loads(text or "{}"))
    settings = config.storm_control
    if settings is None:
        print(json.dumps({"status": True, "digests": [], "note": "storm_control is off"}))
        return 0
    idle_since = time.monotonic()
    while True:
        wait = settings.flush_interval
        try:
            store = open_store(settings.state)
            try:
                reports = flush_digests(config, store=store)
                now = store.now()
            finally:
                store.close()
        except StoreUnavailable as exc:
            print(json.dumps({"status": False, "digests": [], "note": str(exc)}), flush=True)
            if args.once:
                return 1
            time.sleep(wait)
            continue
        failed = [r for r in reports if r.delivery is not None and not r.delivery.ok]
        if args.once or any(r.delivery is not None for r in reports):
            print(json.dumps({"status": not failed, "digests": [r.to_dict() for r in reports],
                              "note": ""}, ensure_ascii=False), flush=True)
        if args.once:
            return 1 if failed else 0
        if reports:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= args.idle_exit:
            return 0
        due = [r.next_at - now for r in reports if r.next_at]
        if due:  # a digest due before the next look is sent when it is due
            wait = min(wait, max(0.02, min(due)))
        time.sleep(wait)


if __name__ == "__main__":
    sys.exit(main())
