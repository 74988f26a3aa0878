"""Stand-in for st2tests.base (used only when st2 is not installed).

Mirrors the part of the real base classes the pack's tests use:

- BaseActionTestCase: ``action_cls``, ``self.action_service`` (one per test, shared by its
  action instances) and ``get_action_instance(config=...)``;
- BaseSensorTestCase: ``sensor_cls``, ``self.sensor_service`` recording what is dispatched,
  ``get_sensor_instance(config=...)``, ``get_dispatched_triggers()``,
  ``get_last_dispatched_trigger()`` and ``assertTriggerDispatched(trigger, payload=...)``;
- BaseActionAliasTestCase: ``action_alias_name`` (looked up in the pack's aliases/),
  ``assertCommandMatchesExactlyOneFormatString(format_strings, command)`` and
  ``assertExtractedParametersMatch(format_string, command, parameters)``, matching with
  the stand-in of st2's alias format parser (st2common/models/utils/action_alias_utils.py).
"""

import inspect
import logging
import os
import unittest

import yaml
from st2common.exceptions.content import ParseException
from st2common.models.utils.action_alias_utils import (
    extract_parameters,
    extract_parameters_for_action_alias_db,
)


class MockActionService(object):
    """The datastore surface of st2's ActionService, kept in a dict."""

    def __init__(self):
        self._values = {}

    def get_value(self, name, local=True, scope="system", decrypt=False):
        return self._values.get(name)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        self._values[name] = value
        return True

    def delete_value(self, name, local=True, scope="system"):
        return self._values.pop(name, None) is not None

    def list_values(self, local=True, prefix=None):
        return [KeyValue(k, v) for k, v in sorted(self._values.items())
                if prefix is None or k.startswith(prefix)]


class KeyValue(object):
    def __init__(self, name, value):
        self.name = name
        self.value = value


class BaseActionTestCase(unittest.TestCase):
    action_cls = None

    def setUp(self):
        super(BaseActionTestCase, self).setUp()
        if self.action_cls is None:
            raise ValueError("%s.action_cls is not set" % type(self).__name__)
        self.action_service = MockActionService()

    def get_action_instance(self, config=None):
        return self.action_cls(config=config, action_service=self.action_service)


class BasePackResourceTestCase(unittest.TestCase):
    def get_fixture_content(self, fixture_path):
        path = os.path.join(self._get_base_pack_path(), "tests", "fixtures", fixture_path)
        with open(path) as f:
            return f.read()

    def _get_base_pack_path(self):
        return os.path.abspath(os.path.join(os.path.dirname(inspect.getfile(type(self))), ".."))


class TraceContext(object):
    def __init__(self, id_=None, trace_tag=None):
        self.id_ = id_
        self.trace_tag = trace_tag


class MockSensorService(object):
    """What a sensor calls on st2's SensorService; dispatched triggers are recorded."""

    def __init__(self, class_name):
        self._logger = logging.getLogger("st2.sensor.%s" % class_name)
        self.dispatched_triggers = []
        self._datastore = MockActionService()

    def get_logger(self, name):
        return self._logger

    def dispatch(self, trigger, payload=None, trace_tag=None):
        trace_context = TraceContext(trace_tag=trace_tag) if trace_tag else None
        return self.dispatch_with_context(trigger, payload=payload, trace_context=trace_context)

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        item = {"trigger": trigger, "payload": payload, "trace_context": trace_context}
        self.dispatched_triggers.append(item)
        return item

    def get_value(self, name, local=True, scope="system", decrypt=False):
        return self._datastore.get_value(name)

    def set_value(self, name, value, ttl=None, local=True, scope="system", encrypt=False):
        return self._datastore.set_value(name, value)

    def list_values(self, local=True, prefix=None):
        return self._datastore.list_values(prefix=prefix)

    def delete_value(self, name, local=True, scope="system"):
        return self._datastore.delete_value(name)


class BaseSensorTestCase(BasePackResourceTestCase):
    sensor_cls = None

    def setUp(self):
        super(BaseSensorTestCase, self).setUp()
        self.sensor_service = MockSensorService(self.sensor_cls.__name__)

    def get_sensor_instance(self, config=None, poll_interval=None):
        kwargs = {"sensor_service": self.sensor_service}
        if config:
            kwargs["config"] = config
        if poll_interval is not None:
            kwargs["poll_interval"] = poll_interval
        return self.sensor_cls(**kwargs)

    def get_dispatched_triggers(self):
        return self.sensor_service.dispatched_triggers

    def get_last_dispatched_trigger(self):
        return self.sensor_service.dispatched_triggers[-1]

    def assertTriggerDispatched(self, trigger, payload=None, trace_context=None):  # noqa: N802
        for item in self.get_dispatched_triggers():
            if item["trigger"] != trigger:
                continue
            if payload and item["payload"] != payload:
                continue
            if trace_context and item["trace_context"] != trace_context:
                continue
            return True
        raise AssertionError('Trigger "%s" hasn\'t been dispatched' % trigger)


class ActionAlias(object):
    """The fields of an alias file the tests read (st2's ActionAliasDB)."""

    def __init__(self, metadata):
        self.name = metadata.get("name")
        self.action_ref = metadata.get("action_ref")
        self.formats = metadata.get("formats") or []

    def get_format_strings(self):
        result = []
        for format_string in self.formats:
            if isinstance(format_string, dict) and format_string.get("representation"):
                result.extend(format_string["representation"])
            else:
                result.append(format_string)
        return result


class BaseActionAliasTestCase(BasePackResourceTestCase):
    action_alias_name = None
    action_alias_db = None

    def setUp(self):
        super(BaseActionAliasTestCase, self).setUp()
        if not self.action_alias_name:
            raise ValueError('"action_alias_name" class attribute needs to be provided')
        self.action_alias_db = self._get_action_alias_db_by_name(self.action_alias_name)

    def assertCommandMatchesExactlyOneFormatString(self, format_strings, command):  # noqa: N802
        matched = []
        for format_string in format_strings:
            try:
                extract_parameters(format_str=format_string, param_stream=command)
            except ParseException:
                continue
            matched.append(format_string)
        if not matched:
            raise AssertionError('Command "%s" didn\'t match any of the provided format '
                                 "strings" % command)
        if len(matched) > 1:
            raise AssertionError('Command "%s" matched multiple format strings: %s'
                                 % (command, ", ".join(matched)))

    def assertExtractedParametersMatch(self, format_string, command, parameters):  # noqa: N802
        extracted = extract_parameters_for_action_alias_db(
            action_alias_db=self.action_alias_db, format_str=format_string,
            param_stream=command)
        if extracted != parameters:
            raise AssertionError(
                'Extracted parameters from command string "%s" against format string "%s" '
                "didn't match the provided parameters: %r != %r"
                % (command, format_string, extracted, parameters))

    def _get_action_alias_db_by_name(self, name):
        aliases_dir = os.path.join(self._get_base_pack_path(), "aliases")
        for file_name in sorted(os.listdir(aliases_dir)):
            if not file_name.endswith((".yaml", ".yml", ".json")):
                continue
            with open(os.path.join(aliases_dir, file_name)) as f:
                metadata = yaml.safe_load(f) or {}
            if metadata.get("name") == name:
                return ActionAlias(metadata)
        raise ValueError('Alias with name "%s" not found' % name)
