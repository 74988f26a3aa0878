"""Storm control's own actions: flushDigests, createSilence, listSilences, expireSilence.
Each takes (params, pack config) and returns a ``Reply``; a refusal names the parameter or
config key, and no secret of the config ever shows."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..config.pack import PackConfig
from ..errors import NotifyMessageError, ParameterError
from ..parameters import (
    CREATE_SILENCE_PARAMETERS,
    EXPIRE_SILENCE_PARAMETERS,
    FLUSH_DIGESTS_PARAMETERS,
    LIST_SILENCES_PARAMETERS,
)
from ..params import reject_unknown
from ..result import Redactor, Reply
from ..storm_params import execution_id
from .settings import StormSettings, open_store
from .silences import Silence, new_silence
from .store import Store, StoreUnavailable

__all__ = ["flush_digests_action", "create_silence", "list_silences", "expire_silence",
           "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """Seconds from 3600, "90m", "2h", "1d" (ParameterError naming duration otherwise)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or float(match.group(1)) <= 0:
        raise ParameterError("duration", "expected seconds or a number with s, m, h, d or w "
                             "(90m, 2h, 1d)")
    return float(match.group(1)) * _UNIT[match.group(2).lower()]


def _until(value: Any) -> float:
    if not isinstance(value, str):
        raise ParameterError("until", "expected an ISO 8601 time, e.g. 2026-12-01T18:00:00+08:00")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ParameterError("until", "expected an ISO 8601 time, e.g. "
                             "2026-12-01T18:00:00+08:00") from None
    if moment.tzinfo is None:
        raise ParameterError("until", "give a time zone offset (+08:00) or Z")
    return moment.astimezone(timezone.utc).timestamp()


def _with_store(action: str, params: Mapping[str, Any], config: Mapping[str, Any] | PackConfig
                | None, allowed: tuple[str, ...],
                work: Callable[[Store, StormSettings, dict[str, Any]], Reply]) -> Reply:
    mapping = config.mapping if isinstance(config, PackConfig) else config
    redact = Redactor(_raw_secrets(mapping))
    try:
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(config)
        present = {k: v for k, v in (params or {}).items() if v is not None}
        reject_unknown(present, allowed, action)
        settings = pack_config.storm_control
        if settings is None:
            return Reply(False, f"{action}: storm_control is not configured in the pack "
                         "config, so there is no state store")
        store = open_store(settings.state)
    except (NotifyMessageError, StoreUnavailable) as exc:
        return Reply(False, redact(str(exc)))
    try:
        return work(store, settings, present)
    except (NotifyMessageError, StoreUnavailable) as exc:
        return Reply(False, redact(str(exc)))
    finally:
        store.close()


def _raw_secrets(mapping: Any) -> list[str]:
    from ..config.pack import raw_secrets

    return raw_secrets(mapping)


def flush_digests_action(params: Mapping[str, Any], config: Any) -> Reply:
    from .digest import flush_digests

    def work(store: Store, settings: StormSettings, present: dict[str, Any]) -> Reply:
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(
            config)
        reports = flush_digests(pack_config, store=store)
        sent = [r for r in reports if r.delivery is not None and r.delivery.ok]
        failed = [r for r in reports if r.delivery is not None and not r.delivery.ok]
        message = (f"{len(sent)} digest(s) sent, {len(failed)} failed, "
                   f"{len(reports) - len(sent) - len(failed)} waiting")
        return Reply(not failed, message, {"digests": [r.to_dict() for r in reports]})

    return _with_store("flushDigests", params, config, FLUSH_DIGESTS_PARAMETERS, work)


def create_silence(params: Mapping[str, Any], config: Any) -> Reply:
    def work(store: Store, settings: StormSettings, present: dict[str, Any]) -> Reply:
        matchers = {}
        for name in ("channel", "target", "key", "text"):
            value = present.get(name, "")
            if not isinstance(value, str) or len(value) > 512:
                raise ParameterError(name, "expected a string of at most 512 characters")
            matchers[name] = value
        duration = parse_duration(present["duration"]) if "duration" in present else 0.0
        until = _until(present["until"]) if "until" in present else 0.0
        if not duration and not until:
            raise ParameterError("duration", "give duration (2h) or until")
        comment = present.get("comment", "")
        if not isinstance(comment, str):
            raise ParameterError("comment", "expected a string")
        silence = new_silence(store, matchers, duration=duration, until=until,
                              comment=comment, created_by=execution_id())
        return Reply(True, f"Silence {silence.id} is in force until "
                     f"{silence.to_dict()['until']}.", {"silence": silence.to_dict()})

    return _with_store("createSilence", params, config, CREATE_SILENCE_PARAMETERS, work)


def list_silences(params: Mapping[str, Any], config: Any) -> Reply:
    def work(store: Store, settings: StormSettings, present: dict[str, Any]) -> Reply:
        silences = [Silence.from_json(i, d).to_dict() for i, d in store.silences()]
        return Reply(True, f"{len(silences)} silence(s) in force.",
                     {"count": len(silences), "silences": silences})

    return _with_store("listSilences", params, config, LIST_SILENCES_PARAMETERS, work)


def expire_silence(params: Mapping[str, Any], config: Any) -> Reply:
    def work(store: Store, settings: StormSettings, present: dict[str, Any]) -> Reply:
        silence_id = present.get("id")
        if not isinstance(silence_id, str) or not silence_id.strip():
            raise ParameterError("id", "is required: a silence id such as sil-0123456789")
        if store.silence_expire(silence_id.strip()):
            return Reply(True, f"Silence {silence_id.strip()} has ended.",
                         {"id": silence_id.strip()})
        return Reply(False, f"No silence {silence_id.strip()} is in force.",
                     {"id": silence_id.strip()})

    return _with_store("expireSilence", params, config, EXPIRE_SILENCE_PARAMETERS, work)
