from lib.base import NotifyMessageAction

from notify_message import notify_by_custom


class NotifyByCustomAction(NotifyMessageAction):
    def run(self, emailTitle=None, receivers=None, telephone=None, telephonecontext=None,
            dingding=None, dingdingcontext=None, sms=None, smscontext=None, email=None,
            emailcontext=None, customReceiver=None, jsonInput=None, dingdingWebhooks=None,
            dingdingMsgType=None):
        params = {
            "emailTitle": emailTitle, "receivers": receivers, "telephone": telephone,
            "telephonecontext": telephonecontext, "dingding": dingding,
            "dingdingcontext": dingdingcontext, "sms": sms, "smscontext": smscontext,
            "email": email, "emailcontext": emailcontext, "customReceiver": customReceiver,
            "jsonInput": jsonInput, "dingdingWebhooks": dingdingWebhooks,
            "dingdingMsgType": dingdingMsgType,
        }
        return self.respond(notify_by_custom(params, self.pack_config))
