"""The docs hold together: every relative link in README.md and docs/*.md leads to a file
that exists (and, with #anchor, to a heading of it), and every docs/ page is linked from the
README, so a newcomer can reach it."""

import glob
import os
import re
from typing import Dict, Iterator, List, Tuple

import pytest
from conftest import PACK_DIR

README = os.path.join(PACK_DIR, "README.md")
PAGES = sorted(glob.glob(os.path.join(PACK_DIR, "docs", "*.md")))
DOCS = [README] + PAGES

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


def rel(path: str) -> str:
    return os.path.relpath(path, PACK_DIR)


def prose_lines(path: str) -> Iterator[Tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    fence = ""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            match = FENCE.match(line)
            if fence:
                if match and line.strip() == match.group(1) and line.startswith(fence):
                    fence = ""
            elif match:
                fence = match.group(1)
            else:
                yield number, line.rstrip("\n")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: str) -> List[str]:
    seen: Dict[str, int] = {}
    found = []
    for _, line in prose_lines(path):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.append(base if count == 0 else "%s-%d" % (base, count))
    return found


def links(path: str) -> Iterator[Tuple[int, str]]:
    for number, line in prose_lines(path):
        for match in LINK.finditer(CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def relative_links() -> Iterator[Tuple[str, int, str]]:
    for path in DOCS:
        for number, target in links(path):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                yield path, number, target


LINKS = list(relative_links())


def test_the_docs_are_there():
    names = {os.path.basename(page) for page in PAGES}
    assert {"configuration.md", "email.md", "dingtalk.md", "sms-voice.md",
            "message-center.md", "playbook-import.md", "chatops-sensor.md",
            "command-line.md", "development.md"} <= names
    assert len(LINKS) > len(PAGES)


@pytest.mark.parametrize("path, number, target", LINKS,
                         ids=["%s:%d:%s" % (rel(p), n, t) for p, n, t in LINKS])
def test_a_relative_link_resolves(path, number, target):
    file_part, _, anchor = target.partition("#")
    where = "%s:%d: %s" % (rel(path), number, target)
    linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
        if file_part else path
    assert os.path.exists(linked), where + ": no such file"
    assert os.path.realpath(linked).startswith(os.path.realpath(PACK_DIR) + os.sep), where
    if anchor:
        assert linked.endswith(".md"), where + ": an anchor into a file that is not markdown"
        assert anchor in anchors(linked), "%s: no heading with anchor #%s in %s" % (
            where, anchor, rel(linked))


def test_every_page_is_linked_from_the_readme():
    linked = {os.path.normpath(os.path.join(PACK_DIR, target.partition("#")[0]))
              for path, _, target in LINKS if path == README}
    missing = [rel(page) for page in PAGES if page not in linked]
    assert not missing, "not linked from README.md: %s" % ", ".join(missing)


@pytest.mark.parametrize("heading, anchor", [
    ("SMTP resource instances (`smtp_instances`)", "smtp-resource-instances-smtp_instances"),
    ("What DingTalk's answers mean", "what-dingtalks-answers-mean"),
    ("Alibaba Cloud SMS and voice (`aliyun`, `sms_profiles`)",
     "alibaba-cloud-sms-and-voice-aliyun-sms_profiles"),
    ("The lab", "the-lab"),
])
def test_anchors_are_the_ones_github_makes(heading, anchor):
    assert slug(heading) == anchor


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad](#nowhere)\n\n```sh\n# not a heading\n"
                    "[inside](missing.md)\n```\n", encoding="utf-8")
    assert anchors(str(page)) == ["title"]
    assert [target for _, target in links(str(page))] == ["#title", "#nowhere"]
