"""notifyByCustom's ``jsonInput``: the whole payload as one JSON object.

A JSON object whose keys are notifyByCustom parameters, e.g.
``{"email": 1, "receivers": ["a@163.com"], "emailcontext": "...", "sms": 1}``.
A parameter given explicitly (not blank) wins over the same key in jsonInput; a key that
is not a parameter, or ``jsonInput`` itself, is refused by name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..errors import ParameterError
from ..params import as_json, is_blank

__all__ = ["apply_json_input"]


def apply_json_input(params: Mapping[str, Any], parameters: Collection[str]
                     ) -> tuple[dict[str, Any], frozenset[str]]:
    """The parameters with jsonInput's keys filled in under the explicit ones, and the names
    whose value came from jsonInput (so that an error can say ``jsonInput.<name>``)."""
    merged = {name: value for name, value in params.items() if name != "jsonInput"}
    raw = params.get("jsonInput")
    if is_blank(raw):
        return merged, frozenset()
    payload = as_json("jsonInput", raw)
    if not isinstance(payload, Mapping):
        raise ParameterError("jsonInput", "expected a JSON object whose keys are notifyByCustom "
                             f"parameters, got {type(payload).__name__}")
    if "jsonInput" in payload:
        raise ParameterError("jsonInput", "cannot contain jsonInput itself")
    unknown = sorted(str(k) for k in payload if k not in parameters)
    if unknown:
        raise ParameterError("jsonInput", f"unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(k) for k in unknown)}; expected keys among "
                             + ", ".join(p for p in parameters if p != "jsonInput"))
    taken = {name: value for name, value in payload.items() if is_blank(merged.get(name))}
    merged.update(taken)
    return merged, frozenset(name for name, value in taken.items() if not is_blank(value))
