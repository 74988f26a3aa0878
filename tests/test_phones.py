"""Phone numbers: the formats Alibaba Cloud SMS and voice accept, and what is refused."""

import pytest

from notify_message import ParameterError
from notify_message.channels.phone.request import parse_phones
from notify_message.channels.phone.numbers import (
    INTERNATIONAL,
    LANDLINE_CN,
    MOBILE_CN,
    parse_phone,
)


@pytest.mark.parametrize("text, wire, kind", [
    ("13800138000", "13800138000", MOBILE_CN),
    ("+8613800138000", "13800138000", MOBILE_CN),
    ("008613800138000", "13800138000", MOBILE_CN),
    ("8613800138000", "13800138000", MOBILE_CN),
    ("+86 138 0013 8000", "13800138000", MOBILE_CN),
    ("138-0013-8000", "13800138000", MOBILE_CN),
    (19912345678, "19912345678", MOBILE_CN),
    ("057188886666", "057188886666", LANDLINE_CN),
    ("(0571) 8888-6666", "057188886666", LANDLINE_CN),
    ("01012345678", "01012345678", LANDLINE_CN),
    ("+86 571 8888 6666", "057188886666", LANDLINE_CN),
    ("+85261234567", "85261234567", INTERNATIONAL),
    ("0085261234567", "85261234567", INTERNATIONAL),
    ("+1 202 555 0123", "12025550123", INTERNATIONAL),
])
def test_accepted_forms_become_alibabas_wire_form(text, wire, kind):
    number = parse_phone("telephone", text)
    assert (number.wire, number.kind) == (wire, kind)


@pytest.mark.parametrize("text", [
    "1380013800",          # 10 digits: a mistyped mobile
    "12800138000",         # no mainland mobile starts with 12
    "85261234567",         # another country without + or 00: refused, not guessed
    "+86 12345",
    "+123",
    "phone: 13800138000",
    "13800138000x",
    "",
])
def test_malformed_numbers_are_refused_naming_the_parameter(text):
    with pytest.raises(ParameterError) as err:
        parse_phone("telephone", text)
    assert err.value.parameter == "telephone"


def test_international_numbers_display_with_their_plus():
    assert parse_phone("telephone", "0085261234567").display == "+85261234567"


@pytest.mark.parametrize("value", [
    "13800138000, +86 139 0013 9000;057188886666\n+85261234567",
    '["13800138000", "+86 139 0013 9000", "057188886666", "+85261234567"]',
    ["13800138000", "+86 139 0013 9000", "057188886666", "+85261234567"],
])
def test_a_list_comes_as_text_json_or_array(value):
    assert [n.wire for n in parse_phones("telephone", value)] == [
        "13800138000", "13900139000", "057188886666", "85261234567"]


def test_the_same_number_in_two_forms_is_kept_once():
    assert [n.wire for n in parse_phones("telephone", "13800138000,+8613800138000")] == [
        "13800138000"]
