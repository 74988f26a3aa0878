"""The pack's StackStorm side: the one base action, and the st2 homes of what the library
only describes (the datastore inbox for internal messages, trigger dispatch).

Every action is ``run(self, **params)`` over ``respond``: the library function takes the
parameters st2 passes and the pack config, and returns a result whose ``status`` decides
whether the execution succeeded.  Nothing here imports httpx or a channel until it is used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from st2common.runners.base_action import Action

if TYPE_CHECKING:
    from notify_message.config.pack import PackConfig
    from notify_message.message_center.inbox import InternalMessage

INTERNAL_MESSAGE_TRIGGER = "notify_message.internal_message"


class ActionResult(Protocol):
    @property
    def status(self) -> bool: ...

    @property
    def message(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class NotifyMessageAction(Action):  # type: ignore[misc]  # st2's Action is untyped
    """Actions return ``(status, result)``: a failed delivery fails the st2 execution, so a
    rule or workflow can branch on it, and the result still says what was delivered."""

    @property
    def pack_config(self) -> dict[str, Any]:
        return dict(self.config or {})

    def respond(self, result: ActionResult) -> tuple[bool, dict[str, Any]]:
        summary = result.message.splitlines()[0] if result.message else ""
        if result.status:
            self.logger.info(summary)
        else:
            self.logger.warning(summary)
        return result.status, result.to_dict()

    def call(self, function: Callable[..., ActionResult], params: Mapping[str, Any],
             **options: Any) -> tuple[bool, dict[str, Any]]:
        """``function(params, pack config, **options)``, answered through ``respond``."""
        return self.respond(function(params, self.pack_config, **options))

    def inbox(self, ttl_days: int) -> DatastoreInbox:
        return DatastoreInbox(self.action_service, ttl_days * 86400, TriggerDispatcher())

    def inbox_for(self, config: PackConfig) -> DatastoreInbox:
        return self.inbox(config.message_center.pmsg_ttl_days)


class TriggerDispatcher:
    """Dispatches a trigger through st2's API (``POST /webhooks/st2``) with the temporary
    token st2 gives every python action (``ST2_ACTION_API_URL``, ``ST2_ACTION_AUTH_TOKEN``)."""

    def __init__(self, environ: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
        environ = os.environ if environ is None else environ
        self.api_url = (environ.get("ST2_ACTION_API_URL") or "").rstrip("/")
        self.token = environ.get("ST2_ACTION_AUTH_TOKEN") or ""
        self.timeout = timeout

    def dispatch(self, trigger: str, payload: dict[str, Any]) -> str:
        """What became of the dispatch, in words; never raises, and returns within
        ``timeout`` seconds whatever the API does (httpx's timeout is per read: the request
        runs in a thread of its own, and a dispatch still under way then is given up)."""
        if not self.api_url or not self.token:
            return f"trigger {trigger} not dispatched: st2 gave this action no API URL or token"
        said: list[str] = []
        worker = threading.Thread(target=self._post, args=(trigger, payload, said), daemon=True)
        worker.start()
        worker.join(self.timeout)
        if not said:
            return (f"trigger {trigger} may not have been dispatched: no answer from the st2 "
                    f"API within {self.timeout:g}s")
        return said[0]

    def _post(self, trigger: str, payload: dict[str, Any], said: list[str]) -> None:
        import httpx  # only an internal message that is announced needs it

        try:
            # only the status is needed: the body is never read, so an endless one is not
            with httpx.stream("POST", f"{self.api_url}/webhooks/st2",
                              json={"trigger": trigger, "payload": payload},
                              headers={"X-Auth-Token": self.token},
                              timeout=self.timeout) as response:
                status = response.status_code
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            said.append(f"trigger {trigger} not dispatched: {type(exc).__name__}")
            return
        except Exception as exc:  # noqa: BLE001  (a dispatch that fails is said, not raised)
            said.append(f"trigger {trigger} may not have been dispatched: "
                        f"{type(exc).__name__} after the request went out")
            return
        if status >= 300:
            said.append(f"trigger {trigger} not dispatched: the st2 API answered {status}")
        else:
            said.append(f"trigger {trigger} dispatched")


class DatastoreInbox:
    """Internal messages as datastore keys ``notify_message.pmsg.<aliuid>.<id>`` (one key per
    message, so concurrent executions never overwrite each other), expiring after a TTL."""

    def __init__(self, action_service: Any, ttl_seconds: int,
                 dispatcher: TriggerDispatcher | None = None) -> None:
        self.action_service = action_service
        self.ttl_seconds = ttl_seconds
        self.dispatcher = dispatcher

    def store(self, message: InternalMessage) -> str:
        self.action_service.set_value(message.key, message.to_json(), ttl=self.ttl_seconds,
                                      local=False)
        where = f"kept in the st2 datastore as {message.key}"
        if self.dispatcher is None:
            return where
        return f"{where}; {self.dispatcher.dispatch(INTERNAL_MESSAGE_TRIGGER, message.to_dict())}"

    def list(self, aliuid: str, limit: int) -> list[InternalMessage]:
        from notify_message.message_center.inbox import InternalMessage, inbox_key_prefix

        items = self.action_service.list_values(local=False, prefix=inbox_key_prefix(aliuid)) or []
        messages = [InternalMessage.from_json(item.value) for item in items]
        return sorted(messages, key=lambda m: m.id, reverse=True)[:limit]
