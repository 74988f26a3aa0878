"""The command line's output for people: tables of deliveries and checks, a summary line,
a progress bar on standard error, and the parameters of each action.

Only the human path of ``cli`` imports this module, and this module is the only one that
imports ``rich``: a JSON run, and every st2 execution, never pays for loading it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from .result import Delivery

__all__ = ["render_result", "render_action_help", "ProgressBar", "PROGRESS_FROM",
           "DETAIL_SHOWN"]

# a call with at least this many deliveries shows a progress bar (a handful end too fast
# for one to help)
PROGRESS_FROM = 10
DETAIL_SHOWN = 120   # characters of a delivery's detail in the table; the summary has it all
_OUTCOME_STYLES = {"delivered": "green", "failed": "red", "not sent": "yellow",
                   "outcome unknown": "magenta", "suppressed": "cyan", "queued": "cyan"}


def _console(stream: IO[str], width: int | None = None) -> Any:
    from rich.console import Console

    # highlight=False: rich would colour numbers and addresses as if they meant something
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _short(text: str, limit: int = DETAIL_SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def render_result(result: Mapping[str, Any], stream: IO[str], *, width: int | None = None
                  ) -> None:
    """A result as people read it: the table of its deliveries (or checks), then its
    summary; a dry run also lists what each request would carry, in short."""
    console = _console(stream, width)
    if "checks" in result:
        table = _table(("resource", "check", "ok"), ("detail", "what to do"))
        for check in result.get("checks") or []:
            ok = bool(check.get("ok"))
            table.add_row(_escape(str(check.get("resource", ""))),
                          _escape(str(check.get("check", ""))),
                          "[green]yes[/]" if ok else "[red]NO[/]",
                          _escape(_short(check.get("detail", ""))),
                          _escape(_short(check.get("what_to_do", ""))))
        if result.get("checks"):
            console.print(table)
    else:
        deliveries = result.get("deliveries") or []
        if deliveries:
            table = _table(("channel", "target", "outcome", "code"), ("detail",))
            for d in deliveries:
                outcome = str(d.get("outcome", ""))
                dry = d.get("code") == "dry run"
                style = "cyan" if dry else _OUTCOME_STYLES.get(outcome, "")
                table.add_row(_escape(str(d.get("channel", ""))),
                              _escape(str(d.get("target", ""))),
                              f"[{style}]{_escape(outcome)}[/]" if style else _escape(outcome),
                              _escape(str(d.get("code") or "")),
                              _escape(_short(d.get("detail", ""))))
            console.print(table)
        previews = result.get("preview") or []
        if previews:
            console.print(f"Would send {len(previews)} request(s) (--json shows them whole):")
            for preview in previews:
                console.print("  " + _escape(_preview_line(preview)))
    console.print(_summary(result))


def _table(names: tuple[str, ...], wrapped: tuple[str, ...]) -> Any:
    """Short columns kept whole (a name read cut in two reads wrong); the rest wraps."""
    from rich.table import Table

    table = Table()
    for name in names:
        table.add_column(name, no_wrap=True)
    for name in wrapped:
        table.add_column(name, overflow="fold")
    return table


def _summary(result: Mapping[str, Any]) -> str:
    ok = bool(result.get("status"))
    lines = str(result.get("message", "")).splitlines() or [""]
    head = f"[bold {'green' if ok else 'red'}]{_escape(lines[0])}[/]"
    return "\n".join([head] + [_escape(line) for line in lines[1:]])


def _preview_line(preview: Mapping[str, Any]) -> str:
    channel = str(preview.get("channel", ""))
    targets = ", ".join(str(t) for t in preview.get("targets") or [])
    if "headers" in preview:
        headers = {str(k): str(v) for k, v in preview.get("headers") or []}
        what = f"Subject: {headers.get('Subject', '')} ({preview.get('bytes', '?')} bytes)"
    elif "body" in preview and isinstance(preview["body"], Mapping):
        what = f"{preview['body'].get('msgtype', '')}, {preview.get('bytes', '?')} bytes"
    elif "action" in preview:
        params = preview.get("params") or {}
        what = str(preview["action"]) + "".join(
            f" {k}={params[k]}" for k in ("TemplateParam", "TtsParam", "EventId") if k in params)
    elif "plan" in preview:
        what = f"channels {', '.join(preview['plan'].get('used') or [])}: " \
               f"{preview.get('subject', '')}"
    else:
        what = str(preview.get("subject", preview.get("key", "")))
    return _short(f"{channel} to {targets}: {what}", 160)


def render_action_help(name: str, metadata: Mapping[str, Any], stream: IO[str]) -> None:
    """An action's parameters as its metadata declares them: name, type, default, and
    description (a list, not a table: descriptions are paragraphs)."""
    import textwrap

    console = _console(stream)
    width = min(console.width, 100)
    lines = [f"usage: python -m notify_message --config FILE {name} [--param NAME=VALUE ...] "
             "[--params-json JSON] [--json | --table]", ""]
    lines += textwrap.wrap(" ".join(str(metadata.get("description", "")).split()), width)
    lines += ["", "parameters:"]
    for parameter, spec in (metadata.get("parameters") or {}).items():
        spec = spec if isinstance(spec, Mapping) else {}
        facts = [_type_of(spec)]
        if spec.get("required"):
            facts.append("required")
        elif "default" in spec:
            default = spec["default"]
            facts.append("default " + (str(default).lower() if isinstance(default, bool)
                                       else str(default)))
        lines.append(f"  {parameter} ({', '.join(facts)})")
        lines += textwrap.wrap(" ".join(str(spec.get("description", "")).split()), width,
                               initial_indent="      ", subsequent_indent="      ")
    for line in lines:
        console.print(_escape(line), overflow="ignore", crop=False)


def _type_of(spec: Mapping[str, Any]) -> str:
    if "type" in spec:
        kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    else:
        kinds = [s.get("type", "?") for s in spec.get("anyOf") or [] if isinstance(s, Mapping)]
    return " | ".join(str(k) for k in kinds) or "any"


class ProgressBar:
    """The runtime's progress observer on standard error: done / total, rate, elapsed.
    Shown once a call expects PROGRESS_FROM deliveries (or always, with ``force``)."""

    def __init__(self, stream: IO[str], *, force: bool = False) -> None:
        self.stream = stream
        self.force = force
        self.total = 0
        self.completed = 0
        self.started = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def expect(self, count: int) -> None:
        self.total += count
        if self._progress is None and (self.force or self.total >= PROGRESS_FROM):
            self._start()
        self._update()

    def done(self, delivery: Delivery) -> None:
        self.completed += 1
        self._update()

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("deliveries"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            console=_console(self.stream), transient=False)
        self._task = self._progress.add_task("deliveries", total=self.total, rate="")
        self._progress.start()

    def _update(self) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self._progress.update(self._task, total=max(self.total, self.completed),
                              completed=self.completed,
                              rate=f"{self.completed / elapsed:.1f}/s")

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            # deliveries refused before sending are not reported one by one: the call is over
            self.completed = max(self.completed, self.total)
            self._update()
            self._progress.stop()
