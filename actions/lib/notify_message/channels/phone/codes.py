"""What Alibaba Cloud SMS (SendSms) and voice (SingleCallByTts) answer codes mean.

The codes both products share are written once, with the product's own words filled in
(the parameter that carries the text, what is sent, the RAM policy to grant); each product
then adds its own.  The API gateway's codes (signature, AccessKey, throttling) are
``aliyun.client.explain_common_error``'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...aliyun.client import explain_common_error

__all__ = ["SMS_ERRORS", "VOICE_ERRORS", "explain_sms_code", "explain_voice_code"]

_SHARED: dict[str, str] = {
    "isv.TEMPLATE_PARAMS_ILLEGAL": "a template variable has a value the template does not "
                                   "allow; shorten or simplify {text}",
    "isv.PARAM_LENGTH_LIMIT": "the text is longer than the template variable allows; shorten "
                              "{text}",
    "isv.PARAM_NOT_SUPPORT_URL": "template variables may not contain links; remove URLs from "
                                 "{text}",
    "isv.BLACK_KEY_CONTROL_LIMIT": "the text contains a blocked keyword; reword {text}",
    "isv.INVALID_PARAMETERS": "Alibaba refused a parameter of the {what}",
    "isv.AMOUNT_NOT_ENOUGH": "the account balance is too low: top up the Alibaba Cloud account",
    "isv.OUT_OF_SERVICE": "the service is suspended, usually for an overdue balance: top up "
                          "the account",
    "isv.PRODUCT_UN_SUBSCRIPT": "this account has not activated Alibaba Cloud communications "
                                "({product})",
    "isv.PRODUCT_UNSUBSCRIBE": "this account has not activated {product}",
    "isv.ACCOUNT_NOT_EXISTS": "the account of this AccessKey does not exist",
    "isv.ACCOUNT_ABNORMAL": "the account is abnormal (often an overdue balance)",
    "isp.RAM_PERMISSION_DENY": "the RAM user of this AccessKey lacks {product} permission: "
                               "grant it {policy}",
    "isp.SYSTEM_ERROR": "Alibaba's system failed; the {what} was not retried automatically "
                        "({action} is not idempotent): send again if it did not arrive",
}


def _shared(**words: str) -> dict[str, str]:
    return {code: text.format(**words) for code, text in _SHARED.items()}


# What SendSms's business error codes mean and what to do about them.
SMS_ERRORS: Mapping[str, str] = {
    **_shared(text="smscontext", what="message", product="SMS",
              policy="AliyunDysmsFullAccess", action="SendSms"),
    "isv.BUSINESS_LIMIT_CONTROL": "flow control: Alibaba limits how many messages one number "
                                  "receives per minute, hour and day for the same signature "
                                  "(and template); this number hit the limit. Wait, or raise "
                                  "the frequency limits in the SMS console (国内消息设置)",
    "isv.DAY_LIMIT_CONTROL": "the account's daily sending limit set in the SMS console is "
                             "reached; raise it under 安全设置 or wait until tomorrow",
    "isv.MONTH_LIMIT_CONTROL": "the account's monthly sending limit set in the SMS console is "
                               "reached; raise it under 安全设置",
    "isv.MOBILE_NUMBER_ILLEGAL": "Alibaba refused a number of this request as malformed; check "
                                 "the numbers (mainland mobiles have 11 digits)",
    "isv.MOBILE_COUNT_OVER_LIMIT": "more numbers than one SendSms request takes",
    "isv.SMS_SIGNATURE_ILLEGAL": "the signature (sign_name of the SMS profile) is not an "
                                 "approved signature of this account; check its exact text in "
                                 "the SMS console",
    "isv.SMS_SIGN_ILLEGAL": "the signature may not be used; apply for a compliant one",
    "isv.SIGN_STATE_ILLEGAL": "the signature is not usable (状态不可用); fix it in the SMS console",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": "the signature is for verification codes only and cannot "
                                       "send notifications; use a general (通用) signature",
    "isv.SMS_TEMPLATE_ILLEGAL": "the template (template_code of the SMS profile) is not an "
                                "approved template of this account, or does not go with the "
                                "signature",
    "isv.TEMPLATE_MISSING_PARAMETERS": "the template has variables this request did not fill: "
                                       "set template_param to the variable that carries the "
                                       "text and give the others in template_constants",
    "isv.INVALID_JSON_PARAM": "TemplateParam was not valid JSON",
    "isv.SMS_CONTENT_ILLEGAL": "the text contains content SMS may not carry; reword smscontext",
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": "an international template cannot send to mainland "
                                         "numbers; use a mainland (国内) template for them",
    "isv.DENY_IP_RANGE": "Alibaba refuses mainland SMS requests from this machine's IP region; "
                         "send from a mainland China IP",
    "isv.EXTEND_CODE_ERROR": "the same extension code is used by several signatures",
}

VOICE_ERRORS: Mapping[str, str] = {
    **_shared(text="telephonecontext", what="call", product="the voice service",
              policy="AliyunDyvmsFullAccess", action="SingleCallByTts"),
    "isv.BUSINESS_LIMIT_CONTROL": "flow control: Alibaba calls one number at most once a "
                                  "minute, 5 times an hour and 20 times a day (answered or "
                                  "not); this number hit the limit. Wait, or apply for looser "
                                  "limits in the voice console (dedicated numbers only)",
    "isv.MOBILE_NUMBER_ILLEGAL": "Alibaba refused the called number as malformed",
    "isv.DISPLAY_NUMBER_ILLEGAL": "the caller number (voice.show_number of the SMS profile) is "
                                  "not a number of this account; fix it or leave it blank for "
                                  "the shared number pool",
    "isv.TTS_TEMPLATE_ILLEGAL": "the text-to-speech template (voice.tts_code) is not an "
                                "approved template of this account, or does not fit the call "
                                "mode (shared pool vs dedicated number)",
    "isv.TEMPLATE_ILLEGAL": "the text-to-speech template (voice.tts_code) does not exist",
    "isv.TEMPLATE_MISSING_PARAMETERS": "the template has variables this call did not fill: set "
                                       "voice.tts_param to the variable that carries the text "
                                       "and give the others in voice.tts_constants",
    "isv.COMPLAINT_REJECT": "the call was blocked by anti-harassment controls",
    "isv.VOICE_CALL_FAIL": "the call could not be started; see the voice console's statistics",
}


def explain_sms_code(code: str | None) -> str | None:
    """What to do about a SendSms answer code (its own or the API gateway's), or None."""
    if code is None:
        return None
    return SMS_ERRORS.get(code) or explain_common_error(code)


def explain_voice_code(code: str | None) -> str | None:
    """What to do about a SingleCallByTts answer code (its own or the gateway's), or None."""
    if code is None:
        return None
    return VOICE_ERRORS.get(code) or explain_common_error(code)
