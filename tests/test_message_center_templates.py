"""Message Center templates: the three events in both languages, variables, overrides."""

import pytest

from notify_message import ConfigError, ParameterError
from notify_message.message_center.templates import BUILTIN_TEMPLATES, TemplateBook

VARIABLES = {"aliyunUID": "1766xxxx", "incidentName": "Event generation test",
             "incidentID": "xxx", "startTime": "2025-02-03 00:00:00", "alertName": "Webshell",
             "alertID": "a-1", "endTime": "2025-02-03 01:00:00", "status": "handled",
             "level": "high"}


def test_the_published_incident_template_renders_word_for_word():
    rendered = TemplateBook().get("yundun_soar_incident_generate", "en").render(VARIABLES)
    assert rendered.subject == ("[Alibaba Cloud Threat Analysis and Response] has detected a "
                                "newly discovered security incident Event generation test(xxx)")
    assert rendered.body == (
        "Dear 1766xxxx : Cloud Security Center Threat Analysis and Response has detected a newly "
        "discovered security incident Event generation test(Incident id :xxx) in 2025-02-03 "
        "00:00:00, Please go to Cloud Security Center Console View.")


@pytest.mark.parametrize("event_id, variables", [
    ("yundun_soar_incident_generate", {"aliyunUID", "incidentName", "incidentID", "startTime"}),
    ("yundun_soar_alert_generate", {"aliyunUID", "alertName", "alertID", "startTime"}),
    ("yundun_soar_incident_update", {"aliyunUID", "incidentName", "incidentID", "startTime",
                                     "endTime", "status", "level"}),
])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_event_has_both_languages_with_the_documented_variables(event_id, variables, lang):
    template = TemplateBook().get(event_id, lang)
    assert set(template.variables) == variables
    rendered = template.render(VARIABLES)
    assert "$" not in rendered.subject + rendered.body
    assert all(VARIABLES[name] in rendered.subject + rendered.body for name in variables
               if name != "aliyunUID") and VARIABLES["aliyunUID"] in rendered.body


def test_the_chinese_templates_are_in_chinese():
    for template in BUILTIN_TEMPLATES:
        if template.lang == "zh":
            assert "云安全中心" in template.body and "【阿里云威胁分析与响应】" in template.subject


def test_a_missing_variable_is_named_with_every_expected_key():
    with pytest.raises(ParameterError) as err:
        TemplateBook().get("yundun_soar_alert_generate", "en").render({"aliyunUID": "1"})
    assert err.value.parameter == "params"
    assert "needs alertName, alertID, startTime" in str(err.value)


def test_an_unknown_event_lists_the_known_ones():
    with pytest.raises(ParameterError) as err:
        TemplateBook().get("yundun_soar_nothing", "zh")
    assert err.value.parameter == "eventId"
    assert "yundun_soar_alert_generate, yundun_soar_incident_generate" in str(err.value)


def test_config_templates_override_and_add():
    book = TemplateBook.from_config({
        "yundun_soar_incident_generate": {"en": {"subject": "Incident ${incidentID}",
                                                 "body": "See $incidentName"}},
        "my_event": {"zh": {"subject": "自定义 $x", "body": "正文 $x"}},
    }, "message_center.templates")
    assert book.get("yundun_soar_incident_generate", "en").render(
        {"incidentID": "7", "incidentName": "n"}).subject == "Incident 7"
    assert book.get("yundun_soar_incident_generate", "zh").lang == "zh"  # built-in kept
    assert book.get("my_event", "zh").render({"x": "1"}).body == "正文 1"
    with pytest.raises(ParameterError) as err:
        book.get("my_event", "en")
    assert err.value.parameter == "lang" and "expected one of zh" in str(err.value)


@pytest.mark.parametrize("templates, key", [
    ({"e": {"fr": {"subject": "s", "body": "b"}}}, "message_center.templates.e.fr"),
    ({"e": {"zh": {"subject": "s"}}}, "message_center.templates.e.zh.body"),
    ({"e": "text"}, "message_center.templates.e"),
])
def test_malformed_config_templates_name_the_key(templates, key):
    with pytest.raises(ConfigError) as err:
        TemplateBook.from_config(templates, "message_center.templates")
    assert err.value.key == key
