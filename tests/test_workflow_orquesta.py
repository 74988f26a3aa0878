"""Converted workflows checked by Orquesta itself: its inspection (what st2 runs when a
workflow is registered or run), and its conductor walking the sample workflow while the pack's
own code runs each task against a loopback SMTP server.  Orquesta is not installable from
PyPI on current Pythons, so these run where StackStorm is installed (st2-run-pack-tests,
st2check --pytest) and are skipped elsewhere."""

import os

import pytest
import yaml
from helpers import (
    ASSET_UUID,
    PACK_DIR,
    SAMPLE_NAME,
    chain,
    flow,
    notify,
    playbook,
    sample,
    start,
    smtp_instance,
    value_data,
)
from helpers import end as end_node
from notify_message.notifier import notify_by_custom, notify_by_message_center
from notify_message.playbook import convert_playbook

orquesta = pytest.importorskip("orquesta")
from orquesta import conducting, events, statuses  # noqa: E402
from orquesta.specs import native  # noqa: E402

RUNS = {"notify_message.notifyByMessageCenter": notify_by_message_center,
        "notify_message.notifyByCustom": notify_by_custom}


def inspect(workflow_yaml):
    return native.WorkflowSpec(workflow_yaml).inspect()


def test_the_shipped_sample_workflow_passes_inspection():
    with open(os.path.join(PACK_DIR, "actions", "workflows", SAMPLE_NAME + ".yaml")) as f:
        assert inspect(f.read()) == {}


def referencing():
    cells = chain("N1", "N2")
    cells[3]["data"]["valueData"] = {"email": 1, "receivers": "${event.owner}",
                                     "emailTitle": "After ${N1.message}",
                                     "emailcontext": "${N1.status}"}
    return playbook(*cells)


def branch_and_join():
    return playbook(start(), end_node(), notify("A"), notify("B"), notify("C"), notify("D"),
                    flow("start", "id-A"), flow("id-A", "id-B"), flow("id-A", "id-C"),
                    flow("id-B", "id-D"), flow("id-C", "id-D"), flow("id-D", "end"))


@pytest.mark.parametrize("source, expose", [
    (sample(), False), (sample(), True), (referencing(), False), (referencing(), True),
    (branch_and_join(), True),
], ids=["sample", "sample-exposed", "references", "references-exposed", "branch-join"])
def test_converted_workflows_pass_inspection(source, expose):
    converted = convert_playbook(source, "wf", expose_parameters=expose)
    assert inspect(converted.workflow_yaml) == {}


def conduct(workflow_yaml, inputs, config):
    """Walk the workflow like st2's workflow engine, running each task with the pack's code
    and handing back the python runner's result shape ({"result": ...})."""
    conductor = conducting.WorkflowConductor(native.WorkflowSpec(workflow_yaml), inputs=inputs)
    conductor.request_workflow_status(statuses.RUNNING)
    ran = []
    while conductor.get_workflow_status() == statuses.RUNNING:
        next_tasks = conductor.get_next_tasks()
        if not next_tasks:
            break
        for task in next_tasks:
            [action] = task["actions"]
            result = RUNS[action["action"]](action["input"], config).to_dict()
            ran.append((task["id"], action["action"], action["input"], result))
            done = statuses.SUCCEEDED if result["status"] else statuses.FAILED
            conductor.update_task_state(task["id"], task["route"],
                                        events.ActionExecutionEvent(statuses.RUNNING))
            conductor.update_task_state(task["id"], task["route"], events.ActionExecutionEvent(
                done, result={"result": result, "exit_code": 0, "stdout": "", "stderr": ""}))
    conductor.render_workflow_output()
    return conductor, ran


def test_the_sample_workflow_runs_both_actions_with_the_playbooks_values(smtp_server,
                                                                         local_ca):
    server = smtp_server()
    config = {
        "smtp_instances": [smtp_instance(server, local_ca, uuid=ASSET_UUID)],
        "message_center": {"recipients": [{
            "aliuid": "1766xxxx", "contacts": [{"name": "On call", "email": "oncall@163.com"}],
            "subscriptions": {"default": {"email": "on"}}}]},
    }
    with open(os.path.join(PACK_DIR, "actions", SAMPLE_NAME + ".yaml")) as f:
        defaults = {k: v.get("default") for k, v in yaml.safe_load(f)["parameters"].items()}
    with open(os.path.join(PACK_DIR, "actions", "workflows", SAMPLE_NAME + ".yaml")) as f:
        conductor, ran = conduct(f.read(), defaults, config)

    assert conductor.get_workflow_status() == statuses.SUCCEEDED, conductor.errors
    assert [(task, action) for task, action, _, _ in ran] == [
        ("NotifyMessage_1", "notify_message.notifyByMessageCenter"),
        ("NotifyMessage_2", "notify_message.notifyByCustom")]
    assert ran[0][2] == value_data(sample(), "notifyByMessageCenter")
    assert ran[1][2] == dict(value_data(sample(), "notifyByCustom"), email=ASSET_UUID)
    assert sorted(m.rcpt_tos[0] for m in server.received) == ["oncall@163.com", "xxx@163.com"]
    output = conductor.get_workflow_output()
    assert output["NotifyMessage_1"]["status"] is True
    assert output["NotifyMessage_2"]["deliveries"][0]["target"] == "xxx@163.com"


def test_a_failed_first_task_stops_the_workflow_before_the_second(smtp_server, local_ca):
    server = smtp_server()
    config = {"smtp_instances": [smtp_instance(server, local_ca, uuid=ASSET_UUID)]}
    converted = convert_playbook(sample(), SAMPLE_NAME)  # no recipient configured for 1766xxxx
    conductor, ran = conduct(converted.workflow_yaml, {}, config)
    assert conductor.get_workflow_status() == statuses.FAILED
    assert [task for task, _, _, _ in ran] == ["NotifyMessage_1"]
    assert server.received == []
