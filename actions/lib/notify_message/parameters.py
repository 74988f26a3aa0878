"""The actions' parameter names: the one place that lists them.

The action metadata in ``actions/*.yaml`` declares the same names for StackStorm (a test
compares them); the parsers refuse anything else with ``reject_unknown`` and the playbook
importer maps a SOAR node's ``valueData`` onto them.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CUSTOM_PARAMETERS", "CUSTOM_EMAIL_PARAMETERS", "MESSAGE_CENTER_PARAMETERS",
           "REPLY_PARAMETERS",
           "LIST_MESSAGES_PARAMETERS", "IMPORT_PLAYBOOK_PARAMETERS", "ACTION_PARAMETERS",
           "COMPONENT_ACTIONS", "OPERATOR_PARAMETERS", "TEST_CONNECTION_PARAMETERS",
           "STORM_PARAMETERS", "FLUSH_DIGESTS_PARAMETERS", "CREATE_SILENCE_PARAMETERS",
           "LIST_SILENCES_PARAMETERS", "EXPIRE_SILENCE_PARAMETERS"]

# notifyByCustom: the component's 14 parameters, in its own order
CUSTOM_PARAMETERS = (
    "emailTitle", "receivers", "telephone", "telephonecontext", "dingding", "dingdingcontext",
    "sms", "smscontext", "email", "emailcontext", "customReceiver", "jsonInput",
    "dingdingWebhooks", "dingdingMsgType",
)
# storm control (storm_control in the pack config): both notify actions take them, after
# the component's own
STORM_PARAMETERS = ("dedupKey", "severity", "idempotencyKey")
# notifyByCustom's email extras beyond the component's 14
CUSTOM_EMAIL_PARAMETERS = ("cc", "bcc", "replyTo", "emailFormat", "attachments", "threadKey",
                           "emailPerRecipient")
# notifyByMessageCenter: the component's five parameters
MESSAGE_CENTER_PARAMETERS = ("aliuid", "eventId", "channelTypeList", "lang", "params")
# replyDingTalk: the trigger's names for the session, the component's for the message
REPLY_PARAMETERS = ("sessionWebhook", "sessionWebhookExpiredTime", "dingdingMsgType",
                    "dingdingcontext")
LIST_MESSAGES_PARAMETERS = ("aliuid", "limit")
IMPORT_PLAYBOOK_PARAMETERS = ("playbook", "name", "description", "expose_parameters",
                              "pack_dir", "overwrite")

# storm control's own actions
FLUSH_DIGESTS_PARAMETERS: tuple[str, ...] = ()
CREATE_SILENCE_PARAMETERS = ("channel", "target", "key", "text", "duration", "until", "comment")
LIST_SILENCES_PARAMETERS: tuple[str, ...] = ()
EXPIRE_SILENCE_PARAMETERS = ("id",)

# the component's two actions, as a SOAR playbook node names them
COMPONENT_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "notifyByMessageCenter": MESSAGE_CENTER_PARAMETERS,
    "notifyByCustom": CUSTOM_PARAMETERS,
}
# what the pack adds to the component's actions (not part of a SOAR node's valueData)
OPERATOR_PARAMETERS = ("dryRun",)
# testConnection: which resources to check, and whether to post a message to each robot
TEST_CONNECTION_PARAMETERS = ("resources", "postTestMessage")
# every action of the pack
ACTION_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    **{name: names + OPERATOR_PARAMETERS + STORM_PARAMETERS
       for name, names in COMPONENT_ACTIONS.items()},
    "notifyByCustom": CUSTOM_PARAMETERS + OPERATOR_PARAMETERS + CUSTOM_EMAIL_PARAMETERS
    + STORM_PARAMETERS,
    "testConnection": TEST_CONNECTION_PARAMETERS,
    "replyDingTalk": REPLY_PARAMETERS,
    "listInternalMessages": LIST_MESSAGES_PARAMETERS,
    "importPlaybook": IMPORT_PLAYBOOK_PARAMETERS,
    "flushDigests": FLUSH_DIGESTS_PARAMETERS,
    "createSilence": CREATE_SILENCE_PARAMETERS,
    "listSilences": LIST_SILENCES_PARAMETERS,
    "expireSilence": EXPIRE_SILENCE_PARAMETERS,
}
