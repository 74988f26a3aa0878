"""Stand-in for st2tests.base (used only when st2 is not installed).

Mirrors the part of the real BaseActionTestCase the pack's tests use: ``action_cls``,
``self.action_service`` (one per test, shared by its action instances) and
``get_action_instance(config=...)``.
"""

import unittest


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
