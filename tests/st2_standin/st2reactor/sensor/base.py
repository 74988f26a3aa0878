"""Stand-in for st2reactor.sensor.base (used only when st2 is not installed)."""

import abc


class BaseSensor(object, metaclass=abc.ABCMeta):
    def __init__(self, sensor_service, config=None):
        self._sensor_service = sensor_service
        self.sensor_service = sensor_service
        self._config = config or {}
        self.config = self._config

    @abc.abstractmethod
    def setup(self):
        pass

    @abc.abstractmethod
    def run(self):
        pass

    @abc.abstractmethod
    def cleanup(self):
        pass

    @abc.abstractmethod
    def add_trigger(self, trigger):
        pass

    @abc.abstractmethod
    def update_trigger(self, trigger):
        pass

    @abc.abstractmethod
    def remove_trigger(self, trigger):
        pass


class Sensor(BaseSensor):
    """A sensor whose run() blocks (a listener), as opposed to a PollingSensor."""

    @abc.abstractmethod
    def run(self):
        pass
