"""``python -m notify_message``: the actions outside StackStorm, from a config file, on the
same code path; the sample playbook's nodes run as the playbook gives them."""

import json

from helpers import SMTP_CODE, node_value_data, smtp_instance

from notify_message.cli import main


def write_config(tmp_path, config):
    path = tmp_path / "notify_message.yaml"
    path.write_text(json.dumps(config))
    return str(path)


def test_node_2_runs_from_the_command_line_with_the_password_from_the_environment(
        smtp_server, local_ca, tmp_path, monkeypatch, capsys):
    server = smtp_server()
    monkeypatch.setenv("SOC_SMTP_CODE", SMTP_CODE)
    config = write_config(tmp_path, {"smtp_instances": [
        smtp_instance(server, local_ca, emailPassword="${SOC_SMTP_CODE}")]})
    code = main(["--config", config, "notifyByCustom",
                 "--params-json", json.dumps(node_value_data("notifyByCustom"))])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["status"] is True
    assert [m.rcpt_tos for m in server.received] == [("xxx@163.com",)]


def test_node_1_runs_from_the_command_line(smtp_server, local_ca, tmp_path, capsys):
    server = smtp_server()
    config = write_config(tmp_path, {
        "smtp_instances": [smtp_instance(server, local_ca)],
        "message_center": {"recipients": [{
            "aliuid": "1766xxxx", "contacts": [{"name": "On call", "email": "oncall@163.com"}],
            "subscriptions": {"default": {"email": "on"}}}]}})
    code = main(["--config", config, "notifyByMessageCenter",
                 "--params-json", json.dumps(node_value_data("notifyByMessageCenter"))])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["channels"]["used"] == ["email"]
    assert server.received[0].rcpt_tos == ("oncall@163.com",)


def test_a_refused_call_exits_1_and_says_why(tmp_path, capsys):
    code = main(["--config", write_config(tmp_path, {}), "notifyByCustom",
                 "--param", "receivers=not-an-address", "--param", "emailcontext=x"])
    assert code == 1 and "parameter 'receivers'" in json.loads(capsys.readouterr().out)["message"]
