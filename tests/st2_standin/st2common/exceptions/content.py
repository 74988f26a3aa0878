"""Stand-in for st2common.exceptions.content (used only when st2 is not installed)."""


class ParseException(ValueError):
    pass
