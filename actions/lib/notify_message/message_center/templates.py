"""Message Center templates: one per event and language, with ``$var`` placeholders.

``yundun_soar_incident_generate`` in English is Alibaba Cloud's published text; the other
texts are ours, written in the same voice (Alibaba has not published them).  Users add or
override templates in the pack config (``message_center.templates``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from ..config.reader import ConfigReader
from ..errors import ConfigError, ParameterError

__all__ = ["LANGUAGES", "MessageTemplate", "RenderedMessage", "TemplateBook", "BUILTIN_TEMPLATES"]

LANGUAGES = ("zh", "en")
MAX_TEMPLATE_BODY = 65536
_PLACEHOLDER = re.compile(r"\$(?:([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\})")


@dataclass(frozen=True)
class RenderedMessage:
    event_id: str
    lang: str
    subject: str
    body: str


@dataclass(frozen=True)
class MessageTemplate:
    event_id: str
    lang: str
    subject: str
    body: str

    @property
    def variables(self) -> tuple[str, ...]:
        """The placeholders, in the order they first appear."""
        found: dict[str, None] = {}
        for match in _PLACEHOLDER.finditer(self.subject + "\n" + self.body):
            found.setdefault(match.group(1) or match.group(2), None)
        return tuple(found)

    def render(self, variables: Mapping[str, str]) -> RenderedMessage:
        missing = [name for name in self.variables if name not in variables]
        if missing:
            raise ParameterError(
                "params", f"template {self.event_id} ({self.lang}) needs "
                f"{', '.join(missing)}; expected a JSON object with the keys "
                f"{', '.join(self.variables)}")
        return RenderedMessage(self.event_id, self.lang,
                               Template(self.subject).substitute(variables),
                               Template(self.body).substitute(variables))


_T = MessageTemplate
BUILTIN_TEMPLATES: tuple[MessageTemplate, ...] = (
    _T("yundun_soar_incident_generate", "en",
       "[Alibaba Cloud Threat Analysis and Response] has detected a newly discovered security "
       "incident $incidentName($incidentID)",
       "Dear $aliyunUID : Cloud Security Center Threat Analysis and Response has detected a "
       "newly discovered security incident $incidentName(Incident id :$incidentID) in "
       "$startTime, Please go to Cloud Security Center Console View."),
    _T("yundun_soar_incident_generate", "zh",
       "【阿里云威胁分析与响应】检测到新的安全事件 $incidentName($incidentID)",
       "尊敬的 $aliyunUID：云安全中心威胁分析与响应于 $startTime 检测到新的安全事件 "
       "$incidentName（事件ID：$incidentID），请前往云安全中心控制台查看。"),
    _T("yundun_soar_alert_generate", "en",
       "[Alibaba Cloud Threat Analysis and Response] has detected a newly generated security "
       "alert $alertName($alertID)",
       "Dear $aliyunUID : Cloud Security Center Threat Analysis and Response has detected a "
       "newly generated security alert $alertName(Alert id :$alertID) in $startTime, Please "
       "go to Cloud Security Center Console View."),
    _T("yundun_soar_alert_generate", "zh",
       "【阿里云威胁分析与响应】检测到新的安全告警 $alertName($alertID)",
       "尊敬的 $aliyunUID：云安全中心威胁分析与响应于 $startTime 检测到新的安全告警 "
       "$alertName（告警ID：$alertID），请前往云安全中心控制台查看。"),
    _T("yundun_soar_incident_update", "en",
       "[Alibaba Cloud Threat Analysis and Response] security incident "
       "$incidentName($incidentID) has been updated",
       "Dear $aliyunUID : Cloud Security Center Threat Analysis and Response has updated the "
       "security incident $incidentName(Incident id :$incidentID): level $level, status "
       "$status, first seen in $startTime, last seen in $endTime, Please go to Cloud Security "
       "Center Console View."),
    _T("yundun_soar_incident_update", "zh",
       "【阿里云威胁分析与响应】安全事件 $incidentName($incidentID) 已更新",
       "尊敬的 $aliyunUID：云安全中心威胁分析与响应更新了安全事件 $incidentName"
       "（事件ID：$incidentID），等级：$level，状态：$status，首次发现时间：$startTime，"
       "最近发现时间：$endTime，请前往云安全中心控制台查看。"),
)


class TemplateBook:
    """The built-in templates, with the config's additions and overrides on top."""

    def __init__(self, templates: tuple[MessageTemplate, ...] = BUILTIN_TEMPLATES) -> None:
        self._templates = {(t.event_id, t.lang): t for t in templates}

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(sorted({event_id for event_id, _ in self._templates}))

    def get(self, event_id: str, lang: str) -> MessageTemplate:
        template = self._templates.get((event_id, lang))
        if template is not None:
            return template
        if event_id not in self.event_ids:
            raise ParameterError("eventId", f"{event_id!r} has no template; expected one of "
                                 f"{', '.join(self.event_ids)} (or add it under "
                                 "message_center.templates in the pack config)")
        langs = sorted(lang for eid, lang in self._templates if eid == event_id)
        raise ParameterError("lang", f"{event_id} has no {lang!r} template; expected one of "
                             f"{', '.join(langs)}")

    @classmethod
    def from_config(cls, value: Any, path: str) -> TemplateBook:
        """``{event_id: {lang: {subject, body}}}`` from the config, over the built-ins."""
        reader = ConfigReader(value, path)
        templates = list(BUILTIN_TEMPLATES)
        for event_id, by_lang in reader.mapping.items():
            langs = ConfigReader(by_lang, reader.key(str(event_id)))
            for lang in langs.mapping:
                if lang not in LANGUAGES:
                    raise ConfigError(langs.key(str(lang)),
                                      f"expected a language of {', '.join(LANGUAGES)}")
                text = ConfigReader(langs.mapping[lang], langs.key(lang))
                subject = text.string("subject", required=True)
                body = text.string("body", required=True, multiline=True,
                                   limit=MAX_TEMPLATE_BODY)
                for name, value in (("subject", subject), ("body", body)):
                    if any(m.group("invalid") is not None
                           for m in Template.pattern.finditer(value)):
                        raise ConfigError(text.key(name), "has a $ that starts no placeholder: "
                                          "write $name or ${name} for a variable and $$ for a "
                                          "literal $")
                templates.append(MessageTemplate(str(event_id), lang, subject, body))
        return cls(tuple(templates))
