"""Stand-in for st2common.models.utils.action_alias_utils (used only when st2 is not installed).

Implements the same format grammar as StackStorm's ActionAliasFormatParser, so that an alias
test passes here exactly when it passes under st2:

- ``{{ name }}`` is a required parameter; ``{{ name = default }}`` an optional one (the
  default may be quoted, a ``{...}`` object, or bare text);
- a value in the command may be quoted ('...' or "..."), a ``{...}`` object, or text;
- ``key=value`` pairs at the very end of the command are extra parameters (they override);
- the format is anchored at both ends unless it has its own ``^`` / ``$``;
- a command that does not match raises ParseException.
"""

import re
import sys

if sys.version_info >= (3, 11):
    import re._parser as _regex_parser  # noqa: WPS450
    from re._constants import AT, AT_BEGINNING, AT_BEGINNING_STRING, AT_END, AT_END_STRING
    from re._constants import BRANCH, SUBPATTERN
else:  # pragma: no cover
    import sre_parse as _regex_parser
    from sre_constants import AT, AT_BEGINNING, AT_BEGINNING_STRING, AT_END, AT_END_STRING
    from sre_constants import BRANCH, SUBPATTERN

from st2common.exceptions.content import ParseException

__all__ = ["extract_parameters", "extract_parameters_for_action_alias_db"]

# a value as the user types it: empty quotes, quoted text, a {...} object, or one word
_KEY = r"\s*(\S+?)\s*"
_VALUE = r'""|\'\'|"(.+?)"|\'(.+?)\'|({.+?})|(\S+)'
# a default in the format may be bare text with spaces
_DEFAULT_VALUE = r'""|\'\'|"(.+?)"|\'(.+?)\'|({.+?})|(.+?)'
_PAIR = r"(?:^|\s+)" + _KEY + "=(" + _VALUE + ")"
_TRAILING_PAIRS = r".*?((" + _PAIR + r"\s*)*)$"
_OPTIONAL = "{{" + _KEY + r"\s*=\s*(?:" + _DEFAULT_VALUE + r")\s*" + "}}"
_REQUIRED = "{{" + _KEY + "}}"
# what a placeholder becomes: a named group that may be quoted or an object
_PLACEHOLDER = r'\1["\']?(?P<\2>(?:(?<=\').+?(?=\')|(?<=").+?(?=")|{.+?}|.+?))["\']?'

_START_ANCHORS = ((AT, AT_BEGINNING), (AT, AT_BEGINNING_STRING))
_END_ANCHORS = ((AT, AT_END), (AT, AT_END_STRING))


def _has_anchor(anchors, tokens, backwards=False):
    items = reversed(list(tokens)) if backwards else tokens
    for kind, value in items:
        if kind == SUBPATTERN and _has_anchor(anchors, value[3]):
            return True
        if kind == BRANCH and _has_anchor(anchors, value[1][1]):
            return True
        if (kind, value) in anchors:
            return True
    return False


def _format_regex(format_str):
    pattern = re.sub(r"(\s*)" + _OPTIONAL, "(?:" + _PLACEHOLDER + ")?", format_str)
    pattern = re.sub(r"(\s*)" + _REQUIRED, _PLACEHOLDER, pattern)
    tokens = _regex_parser.parse(pattern, flags=re.DOTALL)
    if not _has_anchor(_START_ANCHORS, tokens):
        pattern = r"^\s*" + pattern
    if not _has_anchor(_END_ANCHORS, tokens, backwards=True):
        pattern = pattern + r"\s*$"
    return re.compile(pattern, re.DOTALL)


def _split_trailing_pairs(command):
    """(extra key=value pairs, the command without them, padded with a space each side)."""
    ending = re.match(_TRAILING_PAIRS, command, re.DOTALL)
    pairs = []
    if ending and ending.group(1):
        pairs = re.findall(_PAIR, ending.group(1), re.DOTALL)
        command = command.replace(ending.group(1), "")
    return pairs, " %s " % command


def _parameters_of(match, format_str, optionals, pairs, stream, command):
    if not match:
        raise ParseException('Command "%s" doesn\'t match format string "%s"'
                             % (command, format_str))
    result = match.groupdict()
    for optional in optionals:
        name = optional[0]
        result[name] = result[name] or "".join(optional[1:])
    for pair in pairs:
        result[pair[0]] = "".join(pair[2:])
    if format_str and not (stream.strip() or any(result.values())):
        raise ParseException("No value supplied and no default value found.")
    return result


def extract_parameters(format_str, param_stream, match_multiple=False):
    format_str = format_str or ""
    command = param_stream or ""
    pairs, stream = _split_trailing_pairs(command)
    optionals = re.findall(_OPTIONAL, format_str, re.DOTALL)
    regex = _format_regex(format_str)
    if match_multiple:
        return [_parameters_of(m, format_str, optionals, pairs, stream, command)
                for m in regex.finditer(stream)]
    return _parameters_of(regex.search(stream), format_str, optionals, pairs, stream, command)


def extract_parameters_for_action_alias_db(action_alias_db, format_str, param_stream,
                                           match_multiple=False):
    if format_str not in action_alias_db.get_format_strings():
        raise ValueError('Format string "%s" is not available on the alias "%s"'
                         % (format_str, action_alias_db.name))
    return extract_parameters(format_str, param_stream, match_multiple)
