"""The playbook importer: SOAR playbook exports in, Orquesta workflows out."""

import copy
import json
import os

import pytest
import yaml
from helpers import (
    ASSET_UUID,
    PACK_DIR,
    SAMPLE_DESCRIPTION,
    SAMPLE_NAME,
    chain,
    end,
    flow,
    notify,
    playbook,
    sample,
    start,
    value_data,
)
from notify_message.parameters import COMPONENT_ACTIONS
from notify_message.params import TRUE_WORDS
from notify_message.playbook import (ACTION_PARAMETERS, PlaybookError, convert_playbook,
                                     load_playbook)


def tasks_of(converted):
    return converted.workflow["tasks"]


# --- the sample ----------------------------------------------------------------------------
def test_the_sample_becomes_two_tasks_running_the_same_actions_with_its_values():
    converted = convert_playbook(sample(), SAMPLE_NAME)
    tasks = tasks_of(converted)
    assert list(tasks) == ["NotifyMessage_1", "NotifyMessage_2"]
    assert tasks["NotifyMessage_1"]["action"] == "notify_message.notifyByMessageCenter"
    assert tasks["NotifyMessage_2"]["action"] == "notify_message.notifyByCustom"
    assert tasks["NotifyMessage_1"]["input"] == value_data(sample(), "notifyByMessageCenter")
    expected = dict(value_data(sample(), "notifyByCustom"), email=ASSET_UUID)
    assert tasks["NotifyMessage_2"]["input"] == expected


def test_the_sample_flows_from_the_first_task_to_the_second_on_success():
    tasks = tasks_of(convert_playbook(sample(), SAMPLE_NAME))
    assert tasks["NotifyMessage_1"]["next"] == [{
        "when": "<% succeeded() %>",
        "publish": [{"NotifyMessage_1": "<% result().result %>"}],
        "do": ["NotifyMessage_2"]}]
    assert "do" not in tasks["NotifyMessage_2"]["next"][0]


def test_the_workflow_outputs_each_tasks_result():
    workflow = convert_playbook(sample(), SAMPLE_NAME).workflow
    assert workflow["vars"] == [{"NotifyMessage_1": None}, {"NotifyMessage_2": None}]
    assert workflow["output"] == [{"NotifyMessage_1": "<% ctx(NotifyMessage_1) %>"},
                                  {"NotifyMessage_2": "<% ctx(NotifyMessage_2) %>"}]


def test_the_metadata_names_the_workflow_file_and_the_orquesta_runner():
    metadata = convert_playbook(sample(), SAMPLE_NAME).metadata
    assert metadata["runner_type"] == "orquesta"
    assert metadata["entry_point"] == f"workflows/{SAMPLE_NAME}.yaml"
    assert metadata["parameters"] == {}


def test_exposed_parameters_default_to_the_playbook_values():
    converted = convert_playbook(sample(), SAMPLE_NAME, expose_parameters=True)
    parameters = converted.metadata["parameters"]
    for action in ("notifyByMessageCenter", "notifyByCustom"):
        for name, value in value_data(sample(), action).items():
            expected = ASSET_UUID if name == "email" else value
            assert parameters[name]["default"] == expected
    assert converted.workflow["input"] == list(parameters)
    assert tasks_of(converted)["NotifyMessage_2"]["input"]["email"] == "<% ctx(email) %>"
    assert parameters["email"]["anyOf"] == [{"type": "string"}, {"type": "integer"},
                                            {"type": "boolean"}]


def test_exposed_names_shared_by_nodes_or_taken_by_a_task_are_prefixed_with_the_task():
    converted = convert_playbook(playbook(*chain("A", "receivers")), "names",
                                 expose_parameters=True)
    assert list(converted.metadata["parameters"]) == [
        "A_email", "A_receivers", "A_emailcontext", "receivers_email", "receivers_receivers",
        "receivers_emailcontext"]
    assert tasks_of(converted)["A"]["input"]["receivers"] == "<% ctx(A_receivers) %>"


def test_the_shipped_sample_workflow_is_what_the_importer_makes():
    converted = convert_playbook(sample(), SAMPLE_NAME, description=SAMPLE_DESCRIPTION,
                                 expose_parameters=True,
                                 source="notify_message_test_playbook.json")
    for path, text in ((converted.metadata_path, converted.metadata_yaml),
                       (converted.workflow_path, converted.workflow_yaml)):
        with open(os.path.join(PACK_DIR, path)) as f:
            assert f.read() == text, f"{path} differs from the importer's output"


def test_the_playbook_may_arrive_as_json_text():
    converted = convert_playbook(json.dumps(sample()), SAMPLE_NAME)
    assert list(tasks_of(converted)) == ["NotifyMessage_1", "NotifyMessage_2"]


def test_yaml_text_round_trips_to_the_same_data():
    converted = convert_playbook(sample(), SAMPLE_NAME)
    assert yaml.safe_load(converted.workflow_yaml) == converted.workflow
    assert yaml.safe_load(converted.metadata_yaml) == converted.metadata


# --- shapes ----------------------------------------------------------------------------------
def test_several_outgoing_flows_are_one_transition_to_several_tasks():
    converted = convert_playbook(playbook(
        start(), end(), notify("A"), notify("B"), notify("C"),
        flow("start", "id-A"), flow("id-A", "id-B"), flow("id-A", "id-C"),
        flow("id-B", "end"), flow("id-C", "end")), "branch")
    assert tasks_of(converted)["A"]["next"][0]["do"] == ["B", "C"]
    assert "join" not in tasks_of(converted)["B"]


def test_several_incoming_flows_are_a_join_of_all():
    converted = convert_playbook(playbook(
        start(), end(), notify("A"), notify("B"), notify("C"), notify("D"),
        flow("start", "id-A"), flow("id-A", "id-B"), flow("id-A", "id-C"),
        flow("id-B", "id-D"), flow("id-C", "id-D"), flow("id-D", "end")), "join")
    assert tasks_of(converted)["D"]["join"] == "all"
    assert list(tasks_of(converted)) == ["A", "B", "C", "D"]


def test_several_start_flows_start_tasks_in_parallel():
    converted = convert_playbook(playbook(
        start(), end(), notify("A"), notify("B"),
        flow("start", "id-A"), flow("start", "id-B"), flow("id-A", "end"),
        flow("id-B", "end")), "parallel")
    assert list(tasks_of(converted)) == ["A", "B"]
    assert all("do" not in t["next"][0] for t in tasks_of(converted).values())


def test_node_names_that_are_not_identifiers_become_task_names_with_a_warning():
    converted = convert_playbook(playbook(*chain("通知 1", "fail")), "renamed")
    assert list(tasks_of(converted)) == ["task_1", "fail_task"]
    assert any("'通知 1'" in w and "task_1" in w for w in converted.warnings)


# --- references --------------------------------------------------------------------------
def test_a_reference_to_an_earlier_node_becomes_a_task_expression():
    cells = chain("NotifyMessage_1", "NotifyMessage_2")
    cells[3]["data"]["valueData"] = {"email": 1, "receivers": "a@163.com",
                                     "emailcontext": "${NotifyMessage_1.message}"}
    task = tasks_of(convert_playbook(playbook(*cells), "refs"))["NotifyMessage_2"]
    assert task["input"]["emailcontext"] == \
        "<% task(NotifyMessage_1).result.result.message %>"


def test_references_inside_text_are_interpolated():
    cells = chain("N1", "N2")
    cells[3]["data"]["valueData"] = {
        "email": 1, "receivers": "a@163.com",
        "emailTitle": "Tenant ${event._tenant_id}: ${N1.status}"}
    converted = convert_playbook(playbook(*cells), "refs")
    assert tasks_of(converted)["N2"]["input"]["emailTitle"] == \
        "Tenant <% ctx(event)._tenant_id %>: <% task(N1).result.result.status %>"


def test_event_references_become_a_required_event_input():
    cells = chain("N1")
    cells[2]["data"]["valueData"] = {"email": 1, "receivers": "${event.owner_email}",
                                     "emailcontext": "${event.alerts.0.name}"}
    converted = convert_playbook(playbook(*cells), "event")
    assert converted.workflow["input"] == ["event"]
    assert converted.metadata["parameters"]["event"]["type"] == "object"
    assert converted.metadata["parameters"]["event"]["required"] is True
    assert tasks_of(converted)["N1"]["input"]["receivers"] == "<% ctx(event).owner_email %>"
    assert tasks_of(converted)["N1"]["input"]["emailcontext"] == \
        "<% ctx(event).alerts[0].name %>"


def test_references_keep_their_place_inside_json_strings_and_lists():
    cells = chain("N1")
    cells[2]["data"]["action" + "Name"] = "notifyByMessageCenter"
    cells[2]["data"]["valueData"] = {
        "aliuid": "${event._tenant_id}", "eventId": "yundun_soar_incident_generate",
        "channelTypeList": ["email"],
        "params": '{"incidentName":"${event.name}","incidentID":"x","startTime":"t"}'}
    task = tasks_of(convert_playbook(playbook(*cells), "json"))["N1"]
    assert task["input"]["aliuid"] == "<% ctx(event)._tenant_id %>"
    assert task["input"]["params"] == \
        '{"incidentName":"<% ctx(event).name %>","incidentID":"x","startTime":"t"}'
    assert task["input"]["channelTypeList"] == ["email"]


# --- assetUuid ---------------------------------------------------------------------------
def test_asset_uuid_selects_the_instance_when_email_is_a_flag():
    converted = convert_playbook(sample(), SAMPLE_NAME, smtp_instance_uuids=[ASSET_UUID])
    assert tasks_of(converted)["NotifyMessage_2"]["input"]["email"] == ASSET_UUID
    assert converted.warnings == ()


def test_an_asset_uuid_no_configured_instance_carries_is_a_warning():
    converted = convert_playbook(sample(), SAMPLE_NAME, smtp_instance_uuids=["other"])
    [warning] = converted.warnings
    assert "NotifyMessage_2" in warning and ASSET_UUID in warning and "uuid:" in warning


def test_an_email_that_names_an_instance_keeps_it_and_says_the_asset_uuid_was_ignored():
    cells = chain("N1")
    cells[2]["data"]["assetUuid"] = ASSET_UUID
    cells[2]["data"]["valueData"]["email"] = "soc-163"
    converted = convert_playbook(playbook(*cells), "selector")
    assert tasks_of(converted)["N1"]["input"]["email"] == "soc-163"
    assert any("assetUuid" in w and "ignored" in w for w in converted.warnings)


@pytest.mark.parametrize("email", sorted(TRUE_WORDS) + ["Yes", " on ", True, 1])
def test_asset_uuid_selects_the_instance_for_every_word_the_actions_read_as_on(email):
    cells = chain("N1")
    cells[2]["data"]["assetUuid"] = ASSET_UUID
    cells[2]["data"]["valueData"]["email"] = email
    converted = convert_playbook(playbook(*cells), "on")
    assert tasks_of(converted)["N1"]["input"]["email"] == ASSET_UUID
    assert converted.warnings == ()


@pytest.mark.parametrize("email", ["0", "off", "no", False, 0, 2])
def test_an_email_flag_that_is_off_keeps_its_value_and_the_asset_uuid_is_ignored(email):
    cells = chain("N1")
    cells[2]["data"]["assetUuid"] = ASSET_UUID
    cells[2]["data"]["valueData"]["email"] = email
    converted = convert_playbook(playbook(*cells), "off")
    assert tasks_of(converted)["N1"]["input"]["email"] == email
    assert any("assetUuid" in w and "ignored" in w for w in converted.warnings)


def test_the_nodes_actions_and_their_parameters_are_the_librarys_list():
    assert ACTION_PARAMETERS is COMPONENT_ACTIONS
    cells = unknown_action()
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "bad")
    assert "expected one of " + ", ".join(COMPONENT_ACTIONS) in str(refused.value)


def test_blank_email_with_receivers_and_an_asset_uuid_selects_the_instance():
    cells = chain("N1")
    cells[2]["data"]["assetUuid"] = ASSET_UUID
    del cells[2]["data"]["valueData"]["email"]
    assert tasks_of(convert_playbook(playbook(*cells), "blank"))["N1"]["input"]["email"] == \
        ASSET_UUID


# --- what cannot be converted ------------------------------------------------------------
def other_component():
    cells = chain("N1")
    cells.append(dict(notify("Isolate"), data=dict(notify("Isolate")["data"],
                                                   componentName="FirewallBlock")))
    cells += [flow("id-N1", "id-Isolate"), flow("id-Isolate", "end")]
    return cells


def gateway():
    cells = chain("N1")
    cells.append({"id": "gw", "isNode": True,
                  "data": {"nodeType": "exclusiveGateway", "nodeName": "check"}})
    cells += [flow("id-N1", "gw"), flow("gw", "end")]
    return cells


def cycle():
    cells = chain("N1", "N2")
    cells.append(flow("id-N2", "id-N1", "back"))
    return cells


def two_starts():
    return chain("N1") + [start("start-2"), flow("start-2", "id-N1")]


def no_end():
    return [start(), notify("N1"), flow("start", "id-N1")]


def dangling():
    return chain("N1") + [flow("id-N1", "ghost", "edge-9")]


def dead_end():
    return chain("N1") + [notify("N2"), flow("id-N1", "id-N2")]


def unreachable():
    return chain("N1") + [notify("Lonely"), flow("id-Lonely", "end")]


def conditional():
    cells = chain("N1")
    cells[-1] = flow("id-N1", "end", "cond-1", condition="${N1.status} == true")
    return cells


def unknown_parameter():
    cells = chain("N1")
    cells[2]["data"]["valueData"]["priority"] = "high"
    return cells


def later_reference():
    cells = chain("N1", "N2")
    cells[2]["data"]["valueData"]["emailcontext"] = "${N2.message}"
    return cells


def unknown_reference():
    cells = chain("N1")
    cells[2]["data"]["valueData"]["emailcontext"] = "${Enrich_1.verdict}"
    return cells


def expression_text():
    cells = chain("N1")
    cells[2]["data"]["valueData"]["emailcontext"] = "Hello {{ name }}"
    return cells


def unknown_action():
    cells = chain("N1")
    cells[2]["data"]["actionName"] = "notifyByCarrierPigeon"
    return cells


def start_and_join():
    return chain("N1", "N2") + [flow("start", "id-N2")]


@pytest.mark.parametrize("cells, expected", [
    (other_component(), ["node 'Isolate' (id id-Isolate)", "'FirewallBlock'"]),
    (gateway(), ["node 'check' (id gw)", "exclusiveGateway"]),
    (cycle(), ["loops", "'N1' (id id-N1)", "'N2' (id id-N2)"]),
    (two_starts(), ["exactly one start node", "(id start)", "(id start-2)"]),
    (no_end(), ["no end node"]),
    (dangling(), ["sequence flow edge-9 is dangling", "ghost"]),
    (dead_end(), ["node 'N2' (id id-N2) has no outgoing flow"]),
    (unreachable(), ["node 'Lonely' (id id-Lonely) cannot be reached from the start node"]),
    (conditional(), ["sequence flow cond-1 has a condition"]),
    (unknown_parameter(), ["node 'N1' (id id-N1)", "'priority'", "not a parameter"]),
    (later_reference(), ["node 'N1' (id id-N1)", "${N2.message}", "does not run before it"]),
    (unknown_reference(), ["node 'N1' (id id-N1)", "${Enrich_1.verdict}", "no NotifyMessage"]),
    (expression_text(), ["node 'N1' (id id-N1)", "'{{'", "expression"]),
    (unknown_action(), ["node 'N1' (id id-N1)", "notifyByCarrierPigeon"]),
    (start_and_join(), ["node 'N2' (id id-N2)", "both from start and from other nodes"]),
], ids=["other-component", "gateway", "cycle", "two-starts", "no-end", "dangling", "dead-end",
        "unreachable", "conditional-flow", "unknown-parameter", "later-reference",
        "unknown-reference", "expression-text", "unknown-action", "start-and-join"])
def test_what_cannot_be_converted_is_reported_naming_the_node(cells, expected):
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "bad")
    text = str(refused.value)
    for fragment in expected:
        assert fragment in text


def test_every_problem_is_reported_at_once():
    cells = other_component() + [notify("Lonely"), flow("id-Lonely", "end"),
                                 flow("id-N1", "nowhere", "edge-x")]
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "bad")
    assert len(refused.value.problems) == 2  # dangling edge, and the foreign component
    assert "FirewallBlock" in str(refused.value) and "edge-x" in str(refused.value)


def test_a_repeated_flow_is_converted_once_and_said_so():
    cells = chain("N1") + [flow("id-N1", "end", "again")]
    converted = convert_playbook(playbook(*cells), "dup")
    assert any("again" in w for w in converted.warnings)


@pytest.mark.parametrize("value, reason", [
    ("{not json", "not valid JSON"),
    ('{"nodes": []}', "'cells' list"),
    ([], "'cells' list"),
])
def test_input_that_is_not_a_playbook_export_is_refused(value, reason):
    with pytest.raises(PlaybookError) as refused:
        load_playbook(value)
    assert reason in str(refused.value)


@pytest.mark.parametrize("name", ["", "1st", "has space", "../escape", "a/b"])
def test_the_workflow_name_must_be_a_safe_action_name(name):
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(sample(), name)
    assert "name" in str(refused.value)


def test_the_sample_playbook_file_is_not_modified_by_conversion():
    data = sample()
    before = copy.deepcopy(data)
    convert_playbook(data, SAMPLE_NAME, expose_parameters=True)
    assert data == before


# --- large playbooks ------------------------------------------------------------------------
LONG = 10_000


def long_chain(count):
    """start -> N1 -> ... -> N<count> -> end"""
    return chain(*(f"N{i}" for i in range(1, count + 1)))


def test_a_10000_node_chain_converts_in_order():
    cells = long_chain(LONG)
    cells[LONG + 1]["data"]["valueData"]["emailcontext"] = "${N1.message}"  # N<LONG>
    converted = convert_playbook(playbook(*cells), "long")
    tasks = tasks_of(converted)
    assert list(tasks) == [f"N{i}" for i in range(1, LONG + 1)]
    assert tasks["N1"]["next"][0]["do"] == ["N2"]
    assert tasks[f"N{LONG - 1}"]["next"][0]["do"] == [f"N{LONG}"]
    assert "do" not in tasks[f"N{LONG}"]["next"][0]
    assert tasks[f"N{LONG}"]["input"]["emailcontext"] == "<% task(N1).result.result.message %>"
    assert converted.warnings == ()


def test_a_10000_node_loop_is_refused_naming_each_node_of_it():
    cells = long_chain(LONG + 1) + [flow(f"id-N{LONG + 1}", "id-N2", "back")]  # N2..N10001
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "loop")
    loop = [f"'N{i}' (id id-N{i})" for i in [*range(2, LONG + 2), 2]]
    assert refused.value.problems == [
        "the flow loops: " + " -> ".join(loop) + "; loops are not converted"]


def test_the_loop_named_is_the_cycle_itself_not_what_follows_it():
    cells = chain("N1", "N2", "N3", "N4") + [flow("id-N3", "id-N2", "back")]
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "loop")
    assert refused.value.problems == [
        "the flow loops: 'N2' (id id-N2) -> 'N3' (id id-N3) -> 'N2' (id id-N2); loops are "
        "not converted"]


def test_a_node_that_flows_into_itself_is_a_loop():
    cells = chain("N1", "N2") + [flow("id-N2", "id-N2", "self")]
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "loop")
    assert "the flow loops: 'N2' (id id-N2) -> 'N2' (id id-N2);" in str(refused.value)


def test_a_loop_the_start_does_not_reach_is_named_as_well():
    cells = chain("N1") + [notify("X"), notify("Y"), flow("id-X", "id-Y"), flow("id-Y", "id-X")]
    with pytest.raises(PlaybookError) as refused:
        convert_playbook(playbook(*cells), "loop")
    assert refused.value.problems == [
        "node 'X' (id id-X) cannot be reached from the start node",
        "node 'Y' (id id-Y) cannot be reached from the start node",
        "the flow loops: 'X' (id id-X) -> 'Y' (id id-Y) -> 'X' (id id-X); loops are not "
        "converted"]


def test_many_nodes_with_one_name_get_numbered_task_names():
    cells = [start(), end()] + [dict(notify("N"), id=f"id-{i}") for i in range(300)]
    ids = ["start"] + [f"id-{i}" for i in range(300)] + ["end"]
    cells += [flow(a, b) for a, b in zip(ids, ids[1:])]
    tasks = tasks_of(convert_playbook(playbook(*cells), "same"))
    assert list(tasks) == ["N"] + [f"N_{n}" for n in range(2, 301)]


# --- writing -------------------------------------------------------------------------------
def test_write_puts_both_files_into_a_pack_and_refuses_to_overwrite(tmp_path):
    (tmp_path / "pack.yaml").write_text("ref: p\n")
    converted = convert_playbook(sample(), "imported")
    paths = converted.write(str(tmp_path))
    assert paths == [str(tmp_path / "actions" / "imported.yaml"),
                     str(tmp_path / "actions" / "workflows" / "imported.yaml")]
    assert yaml.safe_load((tmp_path / "actions" / "imported.yaml").read_text()) == \
        converted.metadata
    with pytest.raises(FileExistsError):
        converted.write(str(tmp_path))
    assert converted.write(str(tmp_path), overwrite=True) == paths


def test_write_refuses_a_directory_that_is_not_a_pack(tmp_path):
    with pytest.raises(FileNotFoundError):
        convert_playbook(sample(), "imported").write(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
