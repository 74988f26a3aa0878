"""notifyByCustom as StackStorm runs it: through BaseActionTestCase (the real one under
st2-run-pack-tests, the stand-in under plain pytest)."""

import json

import jsonschema
import pytest
from helpers import SMTP_CODE, action_metadata, node_value_data, smtp_instance
from notifyByCustom import NotifyByCustomAction
from st2tests.base import BaseActionTestCase


class NotifyByCustomActionTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = NotifyByCustomAction

    @pytest.fixture(autouse=True)
    def _servers(self, smtp_server, local_ca):
        self.server = smtp_server()
        self.config = {"smtp_instances": [smtp_instance(self.server, local_ca)]}

    def test_sample_playbook_node_2_runs_unchanged(self):
        params = node_value_data("notifyByCustom")
        assert params["email"] == 1  # the sample really passes an integer
        status, result = self.get_action_instance(config=self.config).run(**params)
        assert status is True and result["status"] is True
        assert [m.rcpt_tos for m in self.server.received] == [("xxx@163.com",)]
        assert self.server.received[0].message["Subject"] == "Custom notification test"

    def test_every_declared_parameter_is_accepted_by_run(self):
        declared = set(action_metadata()["parameters"])
        assert len(declared) == 25  # the component's 14, dryRun, the email extras, storm's 3
        status, result = self.get_action_instance(config=self.config).run(
            **{name: None for name in declared})
        assert status is False and "nothing to send" in result["message"]

    def test_the_result_matches_the_output_schema_on_success_and_failure(self):
        schema = action_metadata()["output_schema"]
        action = self.get_action_instance(config=self.config)
        _, ok = action.run(email=1, receivers="a@163.com", emailcontext="x")
        _, bad = action.run(email=1, receivers="a@163.com,gone@", emailcontext="x")
        _, refused = action.run(email=1, receivers="a@163.com", emailcontext="x", sms=1)
        self.config["smtp_instances"][0]["emailPassword"] = SMTP_CODE + "-old"
        _, failed = self.get_action_instance(config=self.config).run(
            email=1, receivers="a@163.com", emailcontext="x")
        assert failed["deliveries"] and not failed["status"]
        for result in (ok, bad, refused, failed):
            jsonschema.validate(result, schema)

    def test_a_failed_delivery_fails_the_execution_and_hides_the_password(self):
        self.config["smtp_instances"][0]["emailPassword"] = SMTP_CODE + "-old"
        status, result = self.get_action_instance(config=self.config).run(
            email=1, receivers="a@163.com", emailcontext="x")
        assert status is False and result["status"] is False
        assert result["deliveries"][0]["code"] == "535"
        assert SMTP_CODE not in json.dumps(result)

    def test_a_bad_parameter_fails_before_anything_is_sent(self):
        status, result = self.get_action_instance(config=self.config).run(
            email=1, receivers="a@163.com", emailTitle="x\nBcc: y@z.com", emailcontext="x")
        assert status is False and result["deliveries"] == []
        assert "emailTitle" in result["message"] and self.server.received == []

    def test_a_broken_config_is_reported_by_key(self):
        del self.config["smtp_instances"][0]["emailUsername"]
        status, result = self.get_action_instance(config=self.config).run(
            email=1, receivers="a@163.com", emailcontext="x")
        assert status is False and "smtp_instances[0].emailUsername" in result["message"]
