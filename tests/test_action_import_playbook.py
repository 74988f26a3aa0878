"""importPlaybook as StackStorm runs it (BaseActionTestCase), and the same code path from the
command line (python -m notify_message import-playbook)."""

import json

import jsonschema
import pytest
import yaml
from importPlaybook import ImportPlaybookAction
from notify_message.cli import main as cli_main
from st2tests.base import BaseActionTestCase
from helpers import ASSET_UUID, PLAYBOOK, action_metadata, chain, playbook, sample


class ImportPlaybookActionTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = ImportPlaybookAction

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path):
        self.tmp_path = tmp_path

    def run_action(self, config=None, **params):
        return self.get_action_instance(config=config or {}).run(**params)

    def test_the_sample_converts_into_workflow_and_metadata_yaml(self):
        status, result = self.run_action(playbook=json.dumps(sample()), name="imported")
        assert status is True, result["message"]
        workflow = yaml.safe_load(result["workflow"])
        metadata = yaml.safe_load(result["metadata"])
        assert list(workflow["tasks"]) == ["NotifyMessage_1", "NotifyMessage_2"]
        assert metadata["name"] == "imported" and metadata["runner_type"] == "orquesta"
        assert result["files"] == [] and result["problems"] == []

    def test_the_playbook_may_be_an_object(self):
        status, result = self.run_action(playbook=sample(), name="imported")
        assert status is True and "NotifyMessage_2" in result["workflow"]

    def test_files_are_written_into_a_pack_only_when_asked(self):
        (self.tmp_path / "pack.yaml").write_text("ref: mine\n")
        status, result = self.run_action(playbook=sample(), name="imported")
        assert status is True and list(self.tmp_path.iterdir()) == [self.tmp_path / "pack.yaml"]
        status, result = self.run_action(playbook=sample(), name="imported",
                                         pack_dir=str(self.tmp_path))
        assert status is True and len(result["files"]) == 2
        with open(result["files"][1]) as f:
            assert f.read() == result["workflow"]

    def test_existing_files_are_kept_unless_overwrite_is_set(self):
        (self.tmp_path / "pack.yaml").write_text("ref: mine\n")
        self.run_action(playbook=sample(), name="imported", pack_dir=str(self.tmp_path))
        status, result = self.run_action(playbook=sample(), name="imported",
                                         pack_dir=str(self.tmp_path))
        assert status is False and "already exists" in result["message"]
        assert result["workflow"]  # still returned, only not written
        status, _ = self.run_action(playbook=sample(), name="imported",
                                    pack_dir=str(self.tmp_path), overwrite=True)
        assert status is True

    def test_a_playbook_that_cannot_be_converted_fails_listing_every_problem(self):
        cells = chain("N1") + [{"id": "gw", "isNode": True,
                                "data": {"nodeType": "exclusiveGateway", "nodeName": "check"}}]
        status, result = self.run_action(playbook=playbook(*cells), name="bad")
        assert status is False and result["workflow"] == ""
        assert any("'check' (id gw)" in p for p in result["problems"])
        assert result["message"].startswith("the playbook cannot be converted")

    def test_the_asset_uuid_is_checked_against_the_configured_instances(self):
        config = {"smtp_instances": [{"assetname": "soc", "emailUsername": "soc@163.com",
                                      "emailPassword": "code", "uuid": "another-uuid"}]}
        status, result = self.run_action(config=config, playbook=sample(), name="imported")
        assert status is True
        assert any(ASSET_UUID in w for w in result["warnings"])

    def test_the_result_matches_the_output_schema_on_success_and_failure(self):
        schema = action_metadata("importPlaybook")["output_schema"]
        for params in ({"playbook": sample(), "name": "ok"},
                       {"playbook": "{broken", "name": "bad"}):
            _, result = self.run_action(**params)
            jsonschema.validate(result, schema)


def test_the_command_line_prints_both_files(capsys):
    assert cli_main(["import-playbook", PLAYBOOK, "--name", "imported"]) == 0
    out = capsys.readouterr().out
    assert "# --- actions/imported.yaml" in out
    assert "# --- actions/workflows/imported.yaml" in out
    assert "notify_message.notifyByCustom" in out


def test_the_command_line_writes_the_files_the_action_returns(tmp_path, capsys):
    assert cli_main(["import-playbook", PLAYBOOK, "--name", "imported", "--expose-parameters",
                     "--description", "Same", "--out", str(tmp_path)]) == 0
    _, result = ImportPlaybookAction(config={}).run(
        playbook=open(PLAYBOOK).read(), name="imported", expose_parameters=True,
        description="Same")
    written = (tmp_path / "actions" / "workflows" / "imported.yaml").read_text()
    assert yaml.safe_load(written) == yaml.safe_load(result["workflow"])


def test_the_command_line_reports_problems_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(playbook(*chain("N1")[:3])))  # no flows at all
    assert cli_main(["import-playbook", str(bad), "--name", "x"]) == 2
    assert "node 'N1' (id id-N1) has no outgoing flow" in capsys.readouterr().err


def test_the_command_line_checks_asset_uuid_against_a_config(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"smtp_instances": [
        {"assetname": "soc", "emailUsername": "soc@163.com", "emailPassword": "x",
         "uuid": ASSET_UUID}]}))
    assert cli_main(["import-playbook", PLAYBOOK, "--name", "x", "--config", str(config)]) == 0
    assert "warning" not in capsys.readouterr().err
    config.write_text(yaml.safe_dump({"smtp_instances": [
        {"assetname": "soc", "emailUsername": "soc@163.com", "emailPassword": "x"}]}))
    assert cli_main(["import-playbook", PLAYBOOK, "--name", "x", "--config", str(config)]) == 0
    assert f"no smtp_instances entry of the pack config has uuid {ASSET_UUID}" in \
        capsys.readouterr().err
