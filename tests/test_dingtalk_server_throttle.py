"""The loopback DingTalk server throttles as DingTalk does: 20 messages per rolling minute
per robot, then errcode 130101 for about 10 minutes; ``time_scale`` compresses both."""

import ssl
import time

import httpx
import pytest
from conftest import FakeRobot


def post(client, server, token, n):
    answer = client.post(server.webhook(token), json={"msgtype": "text",
                                                      "text": {"content": f"alert {n}"}})
    return answer.json()["errcode"]


@pytest.mark.parametrize("scale", [120.0])
def test_the_21st_message_in_a_minute_is_refused_and_the_robot_stays_throttled(
        dingtalk_server, local_ca, scale):
    server = dingtalk_server([FakeRobot("t1"), FakeRobot("t2")], time_scale=scale,
                             throttle_seconds=600.0)
    with httpx.Client(verify=ssl.create_default_context(cafile=local_ca.ca_file)) as client:
        codes = [post(client, server, "t1", n) for n in range(21)]
        assert codes == [0] * 20 + [130101]
        assert post(client, server, "t2", 0) == 0          # per robot
        time.sleep(60.0 / scale + 0.1)                     # a DingTalk minute later ...
        assert post(client, server, "t1", 21) == 130101    # ... still throttled
        time.sleep(600.0 / scale - 60.0 / scale)           # ten DingTalk minutes after
        assert post(client, server, "t1", 22) == 0
    [(token, start, until)] = server.throttles
    assert token == "t1" and until - start == pytest.approx(600.0 / scale)
    assert [code for _, code, _ in server.answers].count(130101) == 2
    assert len(server.message_times) == 22
