from lib.base import NotifyMessageAction

from notify_message import ConfigError, NotifyResult
from notify_message.notifier import notify_by_message_center


class NotifyByMessageCenterAction(NotifyMessageAction):
    def run(self, aliuid=None, eventId=None, channelTypeList=None, lang=None, params=None):
        try:
            config = self.parsed_config()
        except ConfigError as exc:
            return self.respond(NotifyResult.failed(str(exc)))
        inbox = self.inbox(config.message_center.pmsg_ttl_days)
        params = {"aliuid": aliuid, "eventId": eventId, "channelTypeList": channelTypeList,
                  "lang": lang, "params": params}
        return self.respond(notify_by_message_center(params, config, inbox=inbox))
