"""Stand-in for st2common.util.jinja (used only when st2 is not installed): the sandboxed
environment st2 renders alias ack and result formats with (without st2's extra filters)."""

import jinja2
import jinja2.sandbox


def get_jinja_environment(allow_undefined=False, trim_blocks=True, lstrip_blocks=True):
    undefined = jinja2.Undefined if allow_undefined else jinja2.StrictUndefined
    env = jinja2.sandbox.SandboxedEnvironment(undefined=undefined, trim_blocks=trim_blocks,
                                              lstrip_blocks=lstrip_blocks)
    env.tests["in"] = lambda item, list: item in list
    return env
