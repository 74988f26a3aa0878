"""Loopback servers that behave like the real services, for the tests, the demo and the
benchmark.  They check what the real service checks and answer what it answers; nothing
here is used by the pack at run time."""
