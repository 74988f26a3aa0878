"""How telephone, telephonecontext, sms and smscontext are read (nothing is sent here)."""

import pytest

from notify_message import ConfigError, PackConfig, ParameterError
from notify_message.custom.request import parse_custom_request

ALIYUN = {"access_key_id": "LTAI5tExample", "access_key_secret": "example-secret"}
PROFILE = {"name": "oncall", "sign_name": "云安全中心", "template_code": "SMS_1"}
VOICE = {"tts_code": "TTS_1"}


def config(voice=True, **profile):
    entry = dict(PROFILE, **profile)
    if voice:
        entry["voice"] = VOICE
    return PackConfig.from_mapping({"aliyun": ALIYUN, "sms_profiles": [entry]})


def channels(params, **config_options):
    request = parse_custom_request(params, config(**config_options))
    return (request.sms and request.sms.text, request.voice and request.voice.text)


@pytest.mark.parametrize("params, voice, expected", [
    ({"sms": 1, "smscontext": "S"}, True, ("S", None)),
    ({"sms": "true", "smscontext": "S", "telephonecontext": "V"}, True, ("S", "V")),
    ({"telephonecontext": "V"}, True, (None, "V")),
    ({"telephonecontext": "V"}, False, ("V", None)),        # no voice template: SMS text
    ({"sms": 1, "telephonecontext": "V"}, True, ("V", "V")),  # smscontext falls back
    ({"smscontext": "S"}, True, ("S", None)),                # blank sms + smscontext = on
    ({"sms": 0, "telephonecontext": "V"}, True, (None, "V")),
])
def test_which_channels_the_phone_parameters_ask_for(params, voice, expected):
    assert channels(dict(params, telephone="13800138000"), voice=voice) == expected


@pytest.mark.parametrize("params, parameter", [
    ({"telephone": "13800138000"}, "telephone"),                    # nothing to send them
    ({"sms": 1, "smscontext": "S"}, "telephone"),                    # no numbers
    ({"sms": 1, "telephone": "13800138000"}, "smscontext"),          # no text
    ({"sms": 0, "smscontext": "S", "telephone": "13800138000"}, "sms"),
    ({"sms": "nightshift", "smscontext": "S", "telephone": "13800138000"}, "sms"),
    ({"sms": 2, "smscontext": "S", "telephone": "13800138000"}, "sms"),
    ({"sms": 1, "smscontext": "S", "telephone": "057188886666"}, "telephone"),  # landline
    ({"telephonecontext": "V", "telephone": "+85261234567"}, "telephone"),      # abroad
    ({"sms": 1, "smscontext": "S", "telephone": "1380013800"}, "telephone"),
])
def test_unusable_phone_parameters_are_refused_by_name(params, parameter):
    with pytest.raises(ParameterError) as err:
        parse_custom_request(params, config())
    assert err.value.parameter == parameter


def test_telephonecontext_without_voice_template_and_sms_off_is_refused():
    with pytest.raises(ParameterError) as err:
        parse_custom_request({"sms": 0, "telephonecontext": "V", "telephone": "13800138000"},
                             config(voice=False))
    assert err.value.parameter == "telephonecontext" and "voice" in err.value.problem


def test_landlines_are_called_not_texted_and_abroad_texted_not_called():
    request = parse_custom_request({"sms": 1, "smscontext": "S", "telephonecontext": "V",
                                    "telephone": "13800138000,057188886666,+85261234567"},
                                   config())
    assert [n.wire for n in request.sms.numbers] == ["13800138000", "85261234567"]
    assert [n.wire for n in request.voice.numbers] == ["13800138000", "057188886666"]


def test_without_sms_profiles_sms_is_refused_with_what_to_configure():
    with pytest.raises(ParameterError) as err:
        parse_custom_request({"sms": 1, "smscontext": "S", "telephone": "13800138000"},
                             PackConfig.from_mapping({}))
    assert err.value.parameter == "sms" and "sms_profiles" in err.value.problem


def test_sms_off_alone_asks_for_nothing():
    with pytest.raises(ParameterError, match="nothing to send"):
        parse_custom_request({"sms": 0}, config())


@pytest.mark.parametrize("profile, key", [
    ({"sign_name": ""}, "sms_profiles[0].sign_name"),
    ({"template_code": None}, "sms_profiles[0].template_code"),
    ({"template_param": "has space"}, "sms_profiles[0].template_param"),
    ({"template_constants": ["x"]}, "sms_profiles[0].template_constants"),
    ({"voice": {"tts_code": "T", "play_times": 4}}, "sms_profiles[0].voice.play_times"),
    ({"voice": {"tts_code": "T", "volume": 101}}, "sms_profiles[0].voice.volume"),
    ({"voice": {"tts_code": "T", "speed": -501}}, "sms_profiles[0].voice.speed"),
    ({"voice": {"tts_code": "T", "show_number": "0571-1"}}, "sms_profiles[0].voice.show_number"),
    ({"voice": {"play_times": 1}}, "sms_profiles[0].voice.tts_code"),
])
def test_a_malformed_sms_profile_is_refused_by_key(profile, key):
    with pytest.raises(ConfigError) as err:
        PackConfig.from_mapping({"aliyun": ALIYUN, "sms_profiles": [dict(PROFILE, **profile)]})
    assert err.value.key == key


@pytest.mark.parametrize("aliyun, key", [
    ({"access_key_id": "i"}, "aliyun.access_key_secret"),
    ({"access_key_secret": "s"}, "aliyun.access_key_id"),
    (dict(ALIYUN, retries=11), "aliyun.retries"),
    (dict(ALIYUN, retry_backoff=-1), "aliyun.retry_backoff"),
    (dict(ALIYUN, allowed_endpoint_hosts=["https://relay/"]), "aliyun.allowed_endpoint_hosts"),
    (dict(ALIYUN, allowed_endpoint_hosts={"host": "relay"}), "aliyun.allowed_endpoint_hosts"),
])
def test_a_malformed_aliyun_section_is_refused_by_key(aliyun, key):
    with pytest.raises(ConfigError) as err:
        PackConfig.from_mapping({"aliyun": aliyun})
    assert err.value.key == key


def test_sms_profiles_need_the_aliyun_account():
    with pytest.raises(ConfigError) as err:
        PackConfig.from_mapping({"sms_profiles": [PROFILE]})
    assert err.value.key == "aliyun"


def test_the_access_key_pair_is_a_config_secret_and_not_in_its_repr():
    pack = config()
    assert set(pack.secrets()) >= {ALIYUN["access_key_id"], ALIYUN["access_key_secret"]}
    assert ALIYUN["access_key_secret"] not in repr(pack)


def test_profile_names_are_unique_and_one_at_most_is_default():
    with pytest.raises(ConfigError, match="already used"):
        PackConfig.from_mapping({"aliyun": ALIYUN, "sms_profiles": [PROFILE, PROFILE]})
    with pytest.raises(ConfigError, match="at most one"):
        PackConfig.from_mapping({"aliyun": ALIYUN, "sms_profiles": [
            dict(PROFILE, default=True), dict(PROFILE, name="b", default=True)]})
