"""Demo: deliver the sample playbook's notifyByCustom node to a local SMTP server.

Starts an SMTP server on 127.0.0.1 that behaves like NetEase (implicit TLS with a throwaway
CA, AUTH with an authorization code, From must equal the login), writes a pack config with
one SMTP resource instance pointing at it, runs

    python -m notify_message --config <that config> notifyByCustom --params-json <valueData>

with node 2's valueData exactly as the playbook has it, and shows what the server received.
Nothing leaves this machine.
"""

import json
import os
import subprocess
import sys
import tempfile

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PACK_DIR)

from testkit.smtp_server import LocalSmtpServer, SmtpBehaviour  # noqa: E402
from testkit.tls import make_local_ca  # noqa: E402

PLAYBOOK = os.path.join(PACK_DIR, "examples", "playbooks", "notify_message_test_playbook.json")
LOGIN, CODE = "soc-alerts@163.com", "DemoAuthCode2026"


def node_value_data(action_name):
    with open(PLAYBOOK) as f:
        for cell in json.load(f)["cells"]:
            if cell.get("data", {}).get("actionName") == action_name:
                return cell["data"]["valueData"]
    raise SystemExit("no %s node in %s" % (action_name, PLAYBOOK))


def main():
    ca = make_local_ca()
    value_data = node_value_data("notifyByCustom")
    with LocalSmtpServer(ca.server_pem, SmtpBehaviour(accounts={LOGIN: CODE})) as server, \
            tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "notify_message.yaml")
        with open(config_path, "w") as f:
            json.dump({"smtp_instances": [{
                "assetname": "demo-163", "emailSendServer": "127.0.0.1:%d" % server.port,
                "emailUsername": LOGIN, "emailPassword": "${DEMO_SMTP_CODE}",
                "ca_bundle": ca.ca_file}]}, f)
        command = [sys.executable, "-m", "notify_message", "--config", config_path,
                   "notifyByCustom", "--params-json", json.dumps(value_data)]
        print("SMTP server (implicit TLS, AUTH) on 127.0.0.1:%d" % server.port)
        print("node 2 valueData: %s" % json.dumps(value_data, ensure_ascii=False))
        print("$ python -m notify_message --config %s notifyByCustom --params-json '...'\n"
              % config_path)
        env = dict(os.environ, DEMO_SMTP_CODE=CODE,
                   PYTHONPATH=os.path.join(PACK_DIR, "actions", "lib"))
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        print(done.stdout.strip() or done.stderr.strip())
        print("\n--- what the server received (%d message(s), %d session(s)) ---"
              % (len(server.received), server.sessions))
        for mail in server.received:
            print("AUTH as %s, MAIL FROM:<%s>, RCPT TO:%s"
                  % (mail.login, mail.mail_from, ",".join(mail.rcpt_tos)))
            print(mail.data.decode("utf-8", "replace").replace("\r\n", "\n").strip())
    ca.cleanup()
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
