"""notifyByCustom's email parameters: every receivers form, the email selector, and the
checks made before anything is sent."""

import pytest

from notify_message import PackConfig, ParameterError
from notify_message.custom.request import parse_custom_request

CONFIG = PackConfig.from_mapping({"smtp_instances": [
    {"assetname": "soc-163", "uuid": "acde2ae8-8b01-4bec-97c4-44ba6c9ba457",
     "emailUsername": "soc@163.com", "emailPassword": "Xq7hTbLr9sWm2KpZ"},
    {"assetname": "corp", "emailUsername": "soc@qq.com", "emailPassword": "Pw8kLm3nQr5tVx1Z"},
]})


def parse(**params):
    params.setdefault("emailcontext", "body")
    return parse_custom_request(params, CONFIG)


@pytest.mark.parametrize("receivers", [
    '[{"userid":-1,"email":"a@163.com"},{"userid":7,"email":"b@qq.com"}]',
    '["a@163.com", "b@qq.com"]',
    ["a@163.com", "b@qq.com"],
    [{"userid": -1, "email": "a@163.com"}, {"email": "b@qq.com"}],
    "a@163.com,b@qq.com",
    "a@163.com; b@qq.com",
    "a@163.com\nb@qq.com",
    "a@163.com, b@qq.com, A@163.com",
    '[{"email":"a@163.com"}, "SOC <b@qq.com>"]',
])
def test_receivers_are_accepted_in_every_form(receivers):
    assert parse(email=1, receivers=receivers).email.recipients == ("a@163.com", "b@qq.com")


@pytest.mark.parametrize("receivers, problem", [
    ("not-an-address", "is not an email address"),
    ("a@163.com, b@", "is not an email address"),
    ('[{"userid":-1}]', "has no 'email' key"),
    ('[{"userid":-1,"email":"x@163.com"}', "is not valid JSON"),
    ('{"mail":"x@163.com"}', "has no 'email' key"),
    ("a@163.com\r\nBcc: victim@x.com", "is not an email address"),
])
def test_malformed_receivers_are_refused_naming_the_parameter(receivers, problem):
    with pytest.raises(ParameterError) as err:
        parse(email=1, receivers=receivers)
    assert err.value.parameter == "receivers" and problem in str(err.value)


@pytest.mark.parametrize("email, assetname", [
    (1, "soc-163"), ("1", "soc-163"), (True, "soc-163"), ("true", "soc-163"), ("", "soc-163"),
    ("corp", "corp"), ("SOC@QQ.COM", "corp"), ("acde2ae8-8b01-4bec-97c4-44ba6c9ba457", "soc-163"),
])
def test_email_selects_the_default_or_a_named_instance(email, assetname):
    assert parse(email=email, receivers="a@163.com").email.instance.assetname == assetname


def test_an_unknown_instance_is_refused_listing_the_configured_names_but_no_password():
    with pytest.raises(ParameterError) as err:
        parse(email="nobody@x.com", receivers="a@163.com")
    assert err.value.parameter == "email"
    assert "soc-163, corp" in str(err.value) and "Xq7h" not in str(err.value)


def test_email_off_with_receivers_is_a_contradiction():
    with pytest.raises(ParameterError, match="is off"):
        parse(email=0, receivers="a@163.com")


def test_email_on_without_receivers_is_refused():
    with pytest.raises(ParameterError) as err:
        parse(email=1)
    assert err.value.parameter == "receivers"


def test_email_without_any_smtp_instance_says_how_to_configure_one():
    with pytest.raises(ParameterError, match="smtp_instances"):
        parse_custom_request({"email": 1, "receivers": "a@b.com", "emailcontext": "x"},
                             PackConfig.from_mapping({}))


@pytest.mark.parametrize("title", ["line one\nBcc: victim@x.com", "a\rb"])
def test_a_subject_with_cr_or_lf_is_refused(title):
    with pytest.raises(ParameterError) as err:
        parse(email=1, receivers="a@163.com", emailTitle=title)
    assert err.value.parameter == "emailTitle"


def test_an_empty_body_is_refused():
    with pytest.raises(ParameterError) as err:
        parse(email=1, receivers="a@163.com", emailcontext="  ")
    assert err.value.parameter == "emailcontext"


def test_html_bodies_are_recognised():
    assert parse(email=1, receivers="a@163.com", emailcontext="<p>alert</p>").email.html
    assert not parse(email=1, receivers="a@163.com", emailcontext="a < b > c").email.html


def test_nothing_to_send_is_refused():
    with pytest.raises(ParameterError, match="nothing to send"):
        parse_custom_request({"emailTitle": "x"}, CONFIG)


def test_unknown_parameters_are_refused():
    with pytest.raises(ParameterError) as err:
        parse(email=1, receivers="a@163.com", reciever="typo@x.com")
    assert err.value.parameter == "reciever"
