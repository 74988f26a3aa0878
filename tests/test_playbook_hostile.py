"""The playbook importer given playbooks an attacker wrote: no text of the playbook becomes
an expression of the workflow (keys and values, at any depth), the playbook's size and
nesting are bounded and every walk over it is iterative, and no name can put a file outside
the directory it is written into."""

import json
import re
import time

import pytest
import yaml
from helpers import SAMPLE_NAME, chain, playbook, sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify_message.playbook import ConvertedPlaybook, PlaybookError, convert_playbook
from notify_message.playbook import convert as convert_module
from notify_message.playbook import graph as graph_module
from notify_message.playbook.action import import_playbook
from notify_message.playbook.convert import EXPRESSION_SYNTAX, check_name
from notify_message.playbook.graph import MAX_PLAYBOOK_BYTES, MAX_PLAYBOOK_DEPTH

# the only expressions the converter writes: a reference to an earlier task's result or to
# the event, an exposed parameter, the transition's condition and what it publishes
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
GENERATED = re.compile(
    rf"<% (?:task\({IDENT}\)\.result\.result|ctx\({IDENT}\))(?:\.{IDENT}|\[\d+\])* %>"
    r"|<% succeeded\(\) %>|<% result\(\)\.result %>")


def with_value_data(value_data, names=("N1", "N2")):
    """start -> N1 -> N2 -> end, N2 (a notifyByCustom node) given ``value_data``."""
    cells = chain(*names)
    cells[3]["data"]["valueData"] = value_data
    return playbook(*cells)


def refused(value_data, **options):
    with pytest.raises(PlaybookError) as caught:
        convert_playbook(with_value_data(value_data), "hostile", **options)
    return caught.value


def nested(depth, leaf, key=None):
    """``leaf`` inside ``depth`` lists (or objects keyed ``key``)."""
    value = leaf
    for _ in range(depth):
        value = {key: value} if key is not None else [value]
    return value


def strings_of(value):
    """Every key and string in a structure, iteratively."""
    pending, found = [value], []
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            for k, v in current.items():
                found.append(k)
                pending.append(v)
        elif isinstance(current, list):
            pending.extend(current)
        elif isinstance(current, str):
            found.append(current)
    return found


def assert_no_foreign_expression(converted):
    """No key or string of the workflow or the metadata holds expression syntax other than
    the converter's own expressions; their YAML text is that data (plus comment lines that
    hold none either)."""
    for text in strings_of(converted.workflow) + strings_of(converted.metadata):
        left = GENERATED.sub("", text)
        assert not [m for m in EXPRESSION_SYNTAX if m in left], text
    for text, data in ((converted.workflow_yaml, converted.workflow),
                       (converted.metadata_yaml, converted.metadata)):
        assert yaml.safe_load(text) == data
        comments = [line for line in text.splitlines() if line.startswith("#")]
        assert not [m for line in comments for m in EXPRESSION_SYNTAX if m in line]


# --- expression syntax, keys and values, any depth ------------------------------------------
@pytest.mark.parametrize("marker", EXPRESSION_SYNTAX)
def test_expression_syntax_in_a_key_at_depth_is_refused(marker):
    value = {"dingdingcontext": {"text": "x", "at": [{"deeper": {f"a{marker}b": "value"}}]}}
    problem = refused(value).problems[0]
    assert problem.startswith("node 'N2' (id id-N2): dingdingcontext.at[0].deeper has the key "
                              f"'a{marker}b', which contains {marker!r}")


@pytest.mark.parametrize("marker", EXPRESSION_SYNTAX)
def test_expression_syntax_in_a_value_at_depth_is_refused(marker):
    value = {"dingdingcontext": {"text": "x", "at": [{"deeper": [f"x {marker} y"]}]}}
    problem = refused(value).problems[0]
    assert problem.startswith(f"node 'N2' (id id-N2): dingdingcontext.at[0].deeper[0] contains "
                              f"{marker!r}")


def test_a_key_that_is_a_whole_expression_is_refused_at_the_top_of_an_object():
    assert "has the key '{{ st2kv.system.secret | decrypt_kv }}'" in str(refused(
        {"dingdingcontext": {"{{ st2kv.system.secret | decrypt_kv }}": "x"}}))


def test_a_reference_cannot_carry_expression_syntax_into_the_workflow():
    for text in ("${N1.<% 1 %>}", "${<% 1 %>}", "${N1.a %> <% b}", "<${N1.message}%",
                 "{${N1.message}{"):
        with pytest.raises(PlaybookError):
            convert_playbook(with_value_data({"emailcontext": text}), "hostile")


@pytest.mark.parametrize("index, expected", [
    ("0", "<% task(N1).result.result.list[0] %>"), ("007", "<% task(N1).result.result.list[7] %>"),
    ("9" * 5000, "is not a field name"), ("\u0663", "is not a field name")])  # Arabic-Indic 3
def test_an_index_in_a_reference_is_a_small_ascii_number(index, expected):
    try:
        converted = convert_playbook(with_value_data({"emailcontext": f"${{N1.list.{index}}}"}),
                                     "x")
    except PlaybookError as exc:
        assert expected in str(exc)
    else:
        assert converted.workflow["tasks"]["N2"]["input"]["emailcontext"] == expected


def test_an_asset_uuid_with_expression_syntax_is_refused():
    cells = chain("N1")
    cells[2]["data"]["assetUuid"] = "<% ctx(event) %>"
    with pytest.raises(PlaybookError) as caught:
        convert_playbook(playbook(*cells), "hostile")
    assert "assetUuid '<% ctx(event) %>' contains '<%'" in str(caught.value)


def test_hostile_node_names_reach_no_description():
    cells = chain("N1")
    cells[2]["data"]["nodeName"] = "{{ st2kv.system.x }} %}"
    converted = convert_playbook(playbook(*cells), "hostile", expose_parameters=True)
    assert_no_foreign_expression(converted)
    assert converted.metadata["parameters"]["emailcontext"]["description"] == \
        "emailcontext of st2kv_system_x (notifyByCustom)."


def test_a_line_break_in_the_source_cannot_leave_the_header_comment():
    converted = convert_playbook(sample(), "hostile", source="x.json\ntasks: {evil: 1}")
    header = converted.workflow_yaml.split("\nversion:")[0]
    assert all(line.startswith("#") for line in header.splitlines())
    assert yaml.safe_load(converted.workflow_yaml) == converted.workflow


KEYS_AND_TEXT = st.lists(st.sampled_from(
    list(EXPRESSION_SYNTAX) + ["${", "}", "{", "%", "<", ">", "#", "$", ".", " ", "\n",
                               "N1.message", "N1.verdict.0", "event.alert", "event", "N2.x",
                               "a", "é", "告警"]), max_size=6).map("".join) | st.text(max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | KEYS_AND_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS_AND_TEXT, inner,
                                                                max_size=4),
    max_leaves=25)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["dingdingcontext", "emailcontext", "receivers",
                                        "emailTitle", "smscontext"]), JSON, max_size=4),
       st.booleans())
def test_generated_value_data_is_refused_or_holds_only_the_converter_s_expressions(
        value_data, expose):
    try:
        converted = convert_playbook(with_value_data(value_data), "generated",
                                     expose_parameters=expose)
    except PlaybookError as exc:
        assert exc.problems and all(p.isprintable() for p in exc.problems)
        return
    assert_no_foreign_expression(converted)


CELL_FIELD = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                          max_leaves=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(
    ["id", "isNode", "nodeType", "nodeName", "componentName", "actionName", "valueData",
     "assetUuid", "source", "target", "data", "condition"]), CELL_FIELD), max_size=6))
def test_any_field_of_any_cell_gives_a_workflow_or_a_playbook_error(changes):
    cells = chain("N1", "N2")
    for index, name, value in changes:
        cell = cells[index]
        if name in ("id", "isNode", "source", "target", "data"):
            cell[name] = value
        elif isinstance(cell.get("data"), dict):
            cell["data"][name] = value
    try:
        converted = convert_playbook(playbook(*cells), "fuzzed", expose_parameters=True)
    except PlaybookError as exc:
        assert exc.problems and all(p.isprintable() for p in exc.problems)
        return
    assert all(w.isprintable() for w in converted.warnings)
    assert_no_foreign_expression(converted)


# --- bounds and iterative walks -------------------------------------------------------------
def test_valueData_nested_deeper_than_python_recurses_is_refused_not_a_crash():
    deep = with_value_data({"dingdingcontext": nested(100_000, "x")})
    with pytest.raises(PlaybookError) as caught:
        convert_playbook(deep, "deep")
    assert caught.value.problems == [
        f"the playbook nests arrays and objects deeper than {MAX_PLAYBOOK_DEPTH} levels"]
    with pytest.raises(PlaybookError):  # the same as JSON text
        convert_playbook('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}", "deep")


def test_the_nesting_bound_is_the_playbook_s():
    # the playbook, cells, a cell, data, valueData: 5 levels around dingdingcontext's objects
    assert convert_playbook(json.dumps(with_value_data(
        {"dingdingcontext": nested(MAX_PLAYBOOK_DEPTH - 5, "x", "k")})), "deep")
    with pytest.raises(PlaybookError, match="deeper than 64 levels"):
        convert_playbook(json.dumps(with_value_data(
            {"dingdingcontext": nested(MAX_PLAYBOOK_DEPTH - 4, "x", "k")})), "deep")


def test_deep_value_data_within_the_bound_is_walked_without_recursion(monkeypatch):
    """With a recursion limit below the nesting, only an iterative walk gets through."""
    import sys
    value = nested(MAX_PLAYBOOK_DEPTH - 5, "${N1.message}", "k")
    data = with_value_data({"dingdingcontext": value})
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)  # pytest's stack is ~40 deep, the nesting 59: no room for both
    try:
        converted = convert_playbook(data, "deep", expose_parameters=True)
    finally:
        sys.setrecursionlimit(limit)
    leaf = converted.workflow["tasks"]["N2"]["input"]["dingdingcontext"]
    for _ in range(MAX_PLAYBOOK_DEPTH - 5):
        leaf = leaf["k"]
    assert leaf == "<% task(N1).result.result.message %>"


def test_a_playbook_over_16_mib_is_refused_naming_the_bound():
    text = json.dumps(sample()) + " " * MAX_PLAYBOOK_BYTES
    with pytest.raises(PlaybookError) as caught:
        convert_playbook(text, SAMPLE_NAME)
    assert caught.value.problems == [
        f"the playbook is {len(text)} bytes of JSON; at most {MAX_PLAYBOOK_BYTES} (16 MiB) "
        "are accepted"]
    assert str(caught.value).count("\n") == 0  # one problem: one line


def test_a_playbook_object_with_too_many_values_is_refused(monkeypatch):
    monkeypatch.setattr(graph_module, "MAX_PLAYBOOK_ITEMS", 1000)
    with pytest.raises(PlaybookError, match="the playbook holds more than 1000 values"):
        convert_playbook(with_value_data({"receivers": ["a@163.com"] * 1000}), "big")


@pytest.mark.parametrize("text, reason", [
    ('{"cells": [' + "9" * 5000 + "]}", "holds a value JSON cannot be read into"),
    (b'{"cells": [\xff]}', "is not UTF-8 text"),
])
def test_values_json_cannot_hold_are_a_playbook_error(text, reason):
    with pytest.raises(PlaybookError, match=reason):
        convert_playbook(text, "bad")


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object()], ids=["set", "bytes", "object"])
def test_a_value_that_is_not_json_is_a_playbook_error(value):
    assert "not a JSON value" in str(refused({"dingdingcontext": {"x": [value]}}))


def test_a_key_that_is_not_text_is_a_playbook_error():
    assert "has the key 1; keys are text" in str(refused({"dingdingcontext": {1: "x"}}))


@pytest.mark.parametrize("action", [["notifyByCustom"], {"a": 1}])
def test_an_action_name_that_is_not_text_is_a_playbook_error(action):
    cells = chain("N1")
    cells[2]["data"]["actionName"] = action
    with pytest.raises(PlaybookError, match="expected one of"):
        convert_playbook(playbook(*cells), "x")


def test_many_unclosed_references_are_read_in_linear_time():
    started = time.perf_counter()
    converted = convert_playbook(with_value_data({"emailcontext": "${" * 20_000}), "x")
    assert time.perf_counter() - started < 1
    assert converted.workflow["tasks"]["N2"]["input"]["emailcontext"] == "${" * 20_000


def test_a_long_key_over_many_values_costs_nothing_until_a_problem_names_it():
    value = {"k" * 1_000_000: {f"v{i}": "x" for i in range(20_000)}}
    started = time.perf_counter()
    convert_playbook(with_value_data({"dingdingcontext": value}), "x")
    assert time.perf_counter() - started < 2
    problem = refused({"dingdingcontext": {"k" * 1_000_000: {"{{": 1}}}).problems[0]
    assert len(problem) < 300 and "['" + "k" * 60 + "'...]" in problem


def test_a_10000_node_chain_converts_in_under_2_seconds():
    text = json.dumps(playbook(*chain(*(f"N{i}" for i in range(1, 10_001)))))
    started = time.perf_counter()
    converted = convert_playbook(text, "long")
    assert time.perf_counter() - started < 2 * 2  # 0.4 - 0.9 s here; twice 2 s for a busy CI
    assert len(converted.workflow["tasks"]) == 10_000


@pytest.mark.skipif(not hasattr(yaml, "CSafeDumper"), reason="PyYAML without libyaml")
@pytest.mark.parametrize("make", [lambda: convert_playbook(sample(), SAMPLE_NAME,
                                                           expose_parameters=True),
                                  lambda: convert_playbook(playbook(*chain(*(
                                      f"N{i}" for i in range(1, 1001)))), "long")],
                         ids=["sample", "chain"])
def test_libyaml_writes_the_same_text_as_pure_python(make):
    converted = make()
    assert convert_module._DUMPER is yaml.CSafeDumper
    for data in (converted.workflow, converted.metadata):
        assert convert_module._dump(data) == yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


# --- names and paths ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["imported\n", "a" * 101, "a\0b", "..", "a/../b", "a\\b",
                                  "a\u2028", "é", None, 5])
def test_a_name_that_is_not_one_safe_file_name_is_refused(name):
    with pytest.raises(PlaybookError, match="expected letters, digits"):
        convert_playbook(sample(), name)
    with pytest.raises(PlaybookError):
        ConvertedPlaybook(name, {}, {})


def test_the_longest_name_is_accepted():
    assert check_name("a" * 100) == "a" * 100


@pytest.fixture
def pack(tmp_path):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "pack.yaml").write_text("ref: p\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    return pack, outside


def test_write_refuses_an_actions_folder_that_links_outside(pack):
    pack, outside = pack
    (pack / "actions").symlink_to(outside)
    with pytest.raises(PermissionError, match="outside"):
        convert_playbook(sample(), "imported").write(str(pack))
    assert list(outside.iterdir()) == []


def test_write_refuses_a_workflows_folder_that_links_outside(pack):
    pack, outside = pack
    (pack / "actions").mkdir()
    (pack / "actions" / "workflows").symlink_to(outside)
    with pytest.raises(PermissionError, match="outside"):
        convert_playbook(sample(), "imported").write(str(pack))
    assert list(outside.iterdir()) == [] and list((pack / "actions").iterdir()) == [
        pack / "actions" / "workflows"]  # nothing written, not even the first file


def test_write_refuses_a_file_that_links_outside_even_with_overwrite(pack):
    pack, outside = pack
    (pack / "actions").mkdir()
    target = outside / "victim"
    target.write_text("keep me\n")
    (pack / "actions" / "imported.yaml").symlink_to(target)
    with pytest.raises(PermissionError, match="outside"):
        convert_playbook(sample(), "imported").write(str(pack), overwrite=True)
    assert target.read_text() == "keep me\n"


def test_a_link_that_stays_inside_is_followed(pack):
    pack, _ = pack
    (pack / "actions").mkdir()
    (pack / "shared").mkdir()
    (pack / "actions" / "workflows").symlink_to(pack / "shared")
    converted = convert_playbook(sample(), "imported")
    converted.write(str(pack))
    assert (pack / "shared" / "imported.yaml").read_text() == converted.workflow_yaml


def test_a_pack_dir_that_is_itself_a_link_is_fine(pack, tmp_path):
    pack, _ = pack
    (tmp_path / "link").symlink_to(pack)
    convert_playbook(sample(), "imported").write(str(tmp_path / "link"))
    assert (pack / "actions" / "imported.yaml").is_file()


def test_a_nul_in_pack_dir_is_refused_as_a_missing_directory():
    with pytest.raises(FileNotFoundError, match="NUL"):
        convert_playbook(sample(), "imported").write("/tmp/a\0b")


def test_the_action_reports_a_link_outside_as_not_written(pack):
    pack, outside = pack
    (pack / "actions").symlink_to(outside)
    reply = import_playbook({"playbook": sample(), "name": "imported", "pack_dir": str(pack)},
                            None)
    assert reply.status is False and reply.message.startswith("Converted, but not written: ")
    assert "outside" in reply.message and list(outside.iterdir()) == []
    reply = import_playbook({"playbook": sample(), "name": "imported", "pack_dir": "a\0b"}, None)
    assert reply.status is False and "U+0000" in reply.message and "pack_dir" in reply.message


def test_a_hostile_playbook_through_the_action_is_a_failed_reply_listing_the_problem():
    reply = import_playbook({"playbook": json.dumps(with_value_data(
        {"dingdingcontext": {"{{ x }}": 1}})), "name": "x"}, None)
    assert reply.status is False and reply.data["workflow"] == ""
    assert "has the key '{{ x }}'" in reply.data["problems"][0]


def test_nested_json_in_a_string_value_still_converts():
    """Jinja's closers alone start nothing: a JSON object inside a JSON string is no threat."""
    from helpers import sample, value_data

    playbook = sample()
    value_data(playbook, "notifyByCustom")["jsonInput"] = '{"dingdingcontext": {"text": "x"}}'
    converted = convert_playbook(playbook, "nested_json")
    assert '{"dingdingcontext": {"text": "x"}}' in converted.workflow_yaml
