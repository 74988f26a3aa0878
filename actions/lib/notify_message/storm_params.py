"""The storm control parameters both notify actions take (``dedupKey``, ``severity``,
``idempotencyKey``), checked whether or not storm control is configured, and the id of the
execution making the call.  Imports nothing of ``state``: without ``storm_control`` in the
pack config a call loads none of it."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError
from .parameters import STORM_PARAMETERS

__all__ = ["StormParams", "split_storm_params", "execution_id", "SEVERITIES"]

SEVERITIES = ("info", "low", "medium", "high", "critical")
MAX_KEY = 256
_PRINTABLE_KEY = re.compile(r"^[^\x00-\x1f\x7f]+$")


@dataclass(frozen=True)
class StormParams:
    dedup_key: str = ""
    severity: str = ""
    idempotency_key: str = ""


def _key(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ParameterError(name, f"expected a string, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_KEY or (text and not _PRINTABLE_KEY.match(text)):
        raise ParameterError(name, f"expected at most {MAX_KEY} printable characters on one "
                             "line")
    return text


def split_storm_params(params: Mapping[str, Any]) -> tuple[StormParams, dict[str, Any]]:
    """The storm control parameters, checked, and the call's other parameters."""
    rest = {k: v for k, v in params.items() if k not in STORM_PARAMETERS}
    severity = params.get("severity")
    if severity is not None:
        if not isinstance(severity, str) or severity.strip().lower() not in SEVERITIES:
            raise ParameterError("severity", f"expected one of {', '.join(SEVERITIES)}")
        severity = severity.strip().lower()
    found = StormParams(
        dedup_key=_key("dedupKey", params["dedupKey"]) if params.get("dedupKey") is not None
        else "",
        severity=severity or "",
        idempotency_key=_key("idempotencyKey", params["idempotencyKey"])
        if params.get("idempotencyKey") is not None else "")
    return found, rest


def execution_id(environ: Mapping[str, str] | None = None) -> str:
    """The st2 execution making this call (st2's python runner sets
    ``ST2_ACTION_EXECUTION_ID``), or a generated id outside st2 (the command line)."""
    environ = os.environ if environ is None else environ
    return environ.get("ST2_ACTION_EXECUTION_ID") or f"local-{uuid.uuid4().hex[:16]}"
