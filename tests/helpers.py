"""Helpers shared by the test modules: the made-up credentials, pack configs pointing at the
loopback servers, the sample playbook, DingTalk outgoing-robot requests, and an in-process
HTTP answerer for table tests.  Fixtures live in conftest.py."""

import contextlib
import json
import os
import time

from testkit.child import free_port  # noqa: F401 - a port nothing listens on, for the tests

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- email ------------------------------------------------------------------------------

SMTP_LOGIN = "soc-alerts@163.com"
SMTP_CODE = "Xq7hTbLr9sWm2KpZ"  # a made-up authorization code; must never show in results


def smtp_instance(server, local_ca, **overrides):
    """A config entry for an SMTP instance pointing at a loopback server."""
    instance = {
        "assetname": "soc-163",
        "emailSendServer": "127.0.0.1:%d" % server.port,
        "emailUsername": SMTP_LOGIN,
        "emailPassword": SMTP_CODE,
        "ca_bundle": local_ca.ca_file,
        "timeout": 5,
    }
    instance.update(overrides)
    return instance


# --- Alibaba Cloud SMS and voice --------------------------------------------------------

ALIYUN_KEY_ID = "LTAI5tQm8LocalTestKey"          # made up; like the secret, never in results
ALIYUN_SECRET = "sV3kR9pX2wL7nQ4tB8mZ1cF6hJ0dYe"
SIGN_NAME, SMS_TEMPLATE, TTS_TEMPLATE = "云安全中心", "SMS_460000001", "TTS_460000001"
SHOW_NUMBER = "057112345678"


def aliyun_config(server, local_ca, voice=True, profile=None, **aliyun):
    """A pack config with the aliyun account pointing at a loopback server and one SMS
    profile (with a voice template unless ``voice=False``)."""
    section = {
        "access_key_id": ALIYUN_KEY_ID,
        "access_key_secret": ALIYUN_SECRET,
        "endpoints": {"dysmsapi": server.url, "dyvmsapi": server.url},
        "allowed_endpoint_hosts": ["127.0.0.1"],
        "ca_bundle": local_ca.ca_file,
        "timeout": 5,
        "retry_backoff": 0,
    }
    section.update(aliyun)
    entry = {"name": "oncall", "sign_name": SIGN_NAME, "template_code": SMS_TEMPLATE,
             "template_param": "content"}
    if voice:
        entry["voice"] = {"tts_code": TTS_TEMPLATE, "tts_param": "content",
                          "show_number": SHOW_NUMBER}
    entry.update(profile or {})
    return {"aliyun": section, "sms_profiles": [entry]}


# --- DingTalk ---------------------------------------------------------------------------

DINGTALK_TOKEN = "9f3c2a7be1d04c58a6b2e0f4d7c91a3e5b8f6d2c4a1e7b9d0c3f5a8e2b6d4f10"  # made up
DINGTALK_SECRET = "SEC4f1a9c7e2b5d8f0a3c6e9b2d5f8a1c4e7b0d3f6a9c2e5b8d1f4a7c0e3b6d9f2"  # made up


def dingtalk_config(server, local_ca, *robots, **settings):
    """A pack config whose dingtalk_robots point at a loopback server; retries are fast."""
    config = {
        "dingtalk_robots": list(robots),
        "dingtalk_allowed_hosts": [server.host],
        "dingtalk_ca_bundle": local_ca.ca_file,
        "dingtalk_retry_seconds": 1,
        "dingtalk_retry_backoff": 0.01,
        "dingtalk_timeout": 2,
    }
    config.update(settings)
    return config


def dingtalk_robot(server, name="soc-oncall", token=DINGTALK_TOKEN, **fields):
    """A dingtalk_robots entry for a robot on a loopback server."""
    return dict({"name": name, "webhook": server.webhook(token)}, **fields)


# --- the sample playbook, a builder for playbooks of any shape, the actions' metadata ---

PLAYBOOK = os.path.join(PACK_DIR, "examples", "playbooks", "notify_message_test_playbook.json")
SAMPLE_NAME = "notify_message_test_playbook"
# how the shipped sample workflow was generated (see the README)
SAMPLE_DESCRIPTION = ("The NotifyMessage component's sample playbook: a Message Center "
                      "notification (notifyByMessageCenter), then a custom email "
                      "(notifyByCustom).")
ASSET_UUID = "acde2ae8-8b01-4bec-97c4-44ba6c9ba457"


def sample():
    """The shipped sample playbook."""
    with open(PLAYBOOK) as f:
        return json.load(f)


def value_data(playbook, action_name):
    [node] = [c for c in playbook["cells"] if c.get("data", {}).get("actionName") == action_name]
    return node["data"]["valueData"]


# --- a small builder for playbooks of any shape, in the editor's export format -----------
def start(cell_id="start"):
    return {"id": cell_id, "shape": "circle", "isNode": True,
            "data": {"nodeType": "startEvent", "nodeName": "start"}}


def end(cell_id="end"):
    return {"id": cell_id, "shape": "circle", "isNode": True,
            "data": {"nodeType": "endEvent", "nodeName": "end"}}


def notify(name, action="notifyByCustom", value=None, **data):
    value = {"email": 1, "receivers": "a@163.com", "emailcontext": name} if value is None \
        else value
    fields = {"componentName": "NotifyMessage", "nodeType": "action", "appType": "component",
              "nodeName": name, "actionName": action, "valueData": value}
    fields.update(data)
    return {"id": "id-" + name, "shape": "activity", "isNode": True, "data": fields}


def flow(source, target, edge_id=None, **data):
    return {"id": edge_id or f"flow-{source}-{target}", "shape": "custom-edge", "isNode": False,
            "data": dict({"nodeType": "sequenceFlow"}, **data),
            "source": {"cell": source}, "target": {"cell": target}}


def playbook(*cells):
    return {"cells": list(cells)}


def chain(*names):
    """start -> names... -> end"""
    ids = ["start"] + ["id-" + n for n in names] + ["end"]
    return [start(), end()] + [notify(n) for n in names] + [
        flow(a, b) for a, b in zip(ids, ids[1:])]


def action_metadata(name="notifyByCustom"):
    import yaml

    with open(os.path.join(PACK_DIR, "actions", name + ".yaml")) as f:
        return yaml.safe_load(f)


def node_value_data(action_name):
    """The parameters the sample playbook gives the node running ``action_name``."""
    return value_data(sample(), action_name)


# --- DingTalk's outgoing robot: the requests it makes ------------------------------------

INBOUND_NOW = 1_700_000_000_000  # ms; the clock of the verifier tests


def inbound_body(**fields):
    """The JSON body of an outgoing robot's request, with ``fields`` changed."""
    data = {"msgId": "msg-1", "msgtype": "text", "text": {"content": " deploy status "},
            "senderNick": "Li Lei", "senderStaffId": "staff-7", "senderId": "$:LWCP:x",
            "conversationId": "cid-1", "conversationTitle": "SOC", "conversationType": "2",
            "isAdmin": True, "isInAtList": True,
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=s1",
            "sessionWebhookExpiredTime": INBOUND_NOW + 5_400_000, "createAt": INBOUND_NOW - 20,
            "robotCode": "normal"}
    data.update(fields)
    return json.dumps(data).encode()


SENSOR_SECRET = "SECsensor-app-secret-42"   # the AppSecret of the sensors' listener
INBOUND_PATH = "/dingtalk/outgoing"


def outgoing_headers(timestamp=None, secret=SENSOR_SECRET):
    """The headers of an outgoing robot's request signed now (or at ``timestamp``)."""
    from notify_message.channels.dingtalk.inbound import outgoing_sign

    timestamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return {"timestamp": timestamp, "sign": outgoing_sign(timestamp, secret),
            "Content-Type": "application/json; charset=utf-8"}


def post_to_listener(port, raw, headers, path=INBOUND_PATH, method="POST"):
    """(status, parsed JSON answer) of one request to the inbound listener on 127.0.0.1."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=raw, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


# --- answers without a server, for table tests --------------------------------------------

@contextlib.contextmanager
def http_answered_by(answer):
    """Within the block every HTTP request the library makes is answered in-process by
    ``answer(request) -> httpx.Response``: for tables of answers, where going through a
    loopback server would only restate the table.  Each family of answers keeps one test
    against the loopback server, which proves the wire format."""
    import httpx
    from notify_message.runtime import DeliveryContext

    requests = []

    def handler(request):
        requests.append(request)
        return answer(request)

    def http(self, ca_bundle="", *, verify=True):
        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    original = DeliveryContext.http
    DeliveryContext.http = http
    try:
        yield requests
    finally:
        DeliveryContext.http = original
