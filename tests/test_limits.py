"""The Limits table of docs/development.md is what the code enforces: each row names a constant."""

import importlib
import os
import re

import pytest
from conftest import PACK_DIR


def rows():
    with open(os.path.join(PACK_DIR, "docs", "development.md"), encoding="utf-8") as f:
        text = f.read()
    table = text.split("### Limits", 1)[1].split("\n\n", 2)[1]
    for line in table.splitlines()[2:]:
        what, limit, where = [cell.strip() for cell in line.strip("|").split("|")]
        yield what, limit, where.strip("`")


ROWS = list(rows())


def test_the_table_has_rows():
    assert len(ROWS) >= 20


@pytest.mark.parametrize("what, limit, where", ROWS)
def test_a_limit_in_the_docs_is_the_constant_it_names(what, limit, where):
    module, _, name = where.rpartition(".")
    value = getattr(importlib.import_module("notify_message." + module), name)
    numbers = [int(n) for n in re.findall(r"\d+", limit)]
    assert value == numbers[-1], (what, limit, value)
