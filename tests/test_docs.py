"""The docs hold together: every relative link in README.md and docs/*.md leads to a file
that exists (and, with #anchor, to a heading of it), every docs/ page is linked from the
README, so a newcomer can reach it, and every shell command they show either runs here
(against the lab's servers), is what .ci/run runs, or is marked as needing StackStorm."""

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
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


# --- every shell command shown is run here, found in .ci/run, or needs StackStorm ----------
#
# The convention, for every ```sh / ```bash / ```shell / ```console block of README.md and
# docs/*.md:
#   - a block whose first line is `# needs StackStorm` is not run (it must mention st2);
#   - a block whose every command is a line of .ci/run (the set-up and test commands) is
#     checked to be there, verbatim;
#   - every other block is run by bash -e from a scratch copy of the pack's folder (its
#     code linked, its writable folders its own), with the lab's servers running and their
#     config at .lab/notify_message.yaml (also as my-config.yaml), and must exit 0.  A
#     block whose first line is `# the tests add: ARGS` (a benchmark: `--runs 1`) has ARGS
#     added to each of its commands; the lab's own command is run until it is ready, then
#     stopped with Ctrl-C (LONG_RUNNING).

NEEDS_STACKSTORM = "# needs StackStorm"
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
CI_RUN = os.path.join(PACK_DIR, ".ci", "run")
LAB_COMMAND = "PYTHONPATH=actions/lib .venv/bin/python -m notify_message lab"
# a command that runs until stopped -> the line it prints once ready
LONG_RUNNING = {LAB_COMMAND: "Received (Ctrl-C stops the lab):"}
TESTS_ADD = "# the tests add:"
# linked into the scratch copy; actions/, .venv/ and .lab/ are its own
LINKED = ["config.schema.yaml", "examples", "scripts", "sensors", "testkit", "tests/st2_standin",
          "requirements.txt", "requirements-tests.txt"]


class Block:
    def __init__(self, path: str, line: int, language: str, text: str) -> None:
        self.path, self.line, self.language, self.text = path, line, language, text

    @property
    def where(self) -> str:
        return "%s:%d" % (rel(self.path), self.line)

    def commands(self) -> List[str]:
        """The block's commands, continuation lines joined, comments and prompts left out."""
        lines = self.text.splitlines()
        if self.language == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        joined, pending = [], ""
        for line in lines:
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1]
                continue
            command = pending + line
            pending = ""
            if command.strip() and not command.strip().startswith("#"):
                joined.append(" ".join(command.split()))
        return joined

    def added(self) -> str:
        """What the block's first line, `# the tests add: ARGS`, adds to each command."""
        first = self.text.lstrip("\n").splitlines()[0].strip() if self.text.strip() else ""
        return first[len(TESTS_ADD):].strip() if first.startswith(TESTS_ADD) else ""

    def script(self) -> str:
        """What bash runs: the commands, each without its trailing comment, with what the
        block says the tests add."""
        out = []
        for command in self.commands():
            bare = re.sub(r"\s+#[^'\"]*$", "", command).strip()
            out.append(" ".join(filter(None, [bare, self.added()])))
        return "\n".join(out) + "\n"


def shell_blocks(path: str) -> Iterator[Block]:
    fence, language, start, body = "", "", 0, []  # type: Tuple[str, str, int, List[str]]
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            match = FENCE.match(line)
            if not fence:
                if match:
                    fence, language, start, body = match.group(1), match.group(2), number, []
            elif match and line.strip() == match.group(1) and line.startswith(fence):
                if language in SHELL_LANGUAGES:
                    yield Block(path, start, language, "".join(body))
                fence = ""
            else:
                body.append(line)


def ci_lines() -> List[str]:
    with open(CI_RUN, encoding="utf-8") as f:
        return [" ".join(line.split()) for line in f]


def kind(block: Block) -> str:
    first = block.text.splitlines()[0].strip() if block.text.strip() else ""
    if first == NEEDS_STACKSTORM:
        return "stackstorm"
    commands = block.commands()
    if commands and all(c in ci_lines() for c in commands):
        return "ci"
    if commands == [LAB_COMMAND]:
        return "long"
    return "run"


BLOCKS = [block for path in DOCS for block in shell_blocks(path)]
IDS = [block.where for block in BLOCKS]


def test_there_are_blocks_of_every_kind():
    kinds = {kind(block) for block in BLOCKS}
    assert kinds == {"stackstorm", "ci", "long", "run"}, kinds


def test_the_set_up_and_test_commands_are_what_ci_runs():
    readme = [kind(block) for block in BLOCKS if block.path == README]
    assert readme[:2] == ["ci", "run"]           # set up, then the demo
    assert "ci" in readme[2:3]                     # the test command


@pytest.mark.parametrize("block", [b for b in BLOCKS if kind(b) == "stackstorm"],
                         ids=[b.where for b in BLOCKS if kind(b) == "stackstorm"])
def test_a_block_marked_as_needing_stackstorm_uses_it(block):
    assert re.search(r"\bst2|stackstorm", block.text, re.I), \
        "%s: marked '%s' but it runs nothing of StackStorm" % (block.where, NEEDS_STACKSTORM)


def test_a_block_that_is_neither_marked_nor_runnable_is_named(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```sh\n# needs StackStorm\nst2 run x\n```\n\n"
                    "```bash\n.venv/bin/python -m pytest -n 2\n```\n\n"
                    "```sh\necho \\\n  hello   # greet\n```\n\n```yaml\na: 1\n```\n"
                    "```sh\n# the tests add: --quick\nbench run   # slow\nbench more\n```\n",
                    encoding="utf-8")
    blocks = list(shell_blocks(str(page)))
    assert [(b.line, kind(b)) for b in blocks] == [(3, "stackstorm"), (8, "ci"), (12, "run"),
                                                   (20, "run")]
    assert blocks[2].commands() == ["echo hello # greet"]
    assert blocks[2].script() == "echo hello\n"
    assert blocks[3].script() == "bench run --quick\nbench more --quick\n"


def make_scratch(directory) -> str:
    """A scratch copy of the pack's folder: its code linked in, its own copy of the action
    metadata and .venv/ (where .venv/bin/python is this interpreter), so that a documented
    command that writes (import-playbook --out .) writes here."""
    os.makedirs(os.path.join(directory, "tests"))
    for name in LINKED:
        os.symlink(os.path.join(PACK_DIR, name), os.path.join(directory, name))
    # the action metadata and workflows are copies, which a documented import may replace
    shutil.copytree(os.path.join(PACK_DIR, "actions"), os.path.join(directory, "actions"),
                    ignore=shutil.ignore_patterns("lib", "*.py", "__pycache__"))
    for name in os.listdir(os.path.join(PACK_DIR, "actions")):
        if name == "lib" or name.endswith(".py"):
            os.symlink(os.path.join(PACK_DIR, "actions", name),
                       os.path.join(directory, "actions", name))
    python = os.path.join(directory, ".venv", "bin", "python")
    os.makedirs(os.path.dirname(python))
    with open(python, "w") as f:
        f.write('#!/bin/sh\nexec %s "$@"\n' % shlex.quote(sys.executable))
    os.chmod(python, 0o755)
    # "your own config" in the examples is the lab's here
    os.symlink(os.path.join(".lab", "notify_message.yaml"),
               os.path.join(directory, "my-config.yaml"))
    return str(directory)


@pytest.fixture(scope="module")
def scratch_with_lab(tmp_path_factory):
    from notify_message.lab import Lab

    directory = make_scratch(tmp_path_factory.mktemp("docs") / "pack")
    with Lab(os.path.join(directory, ".lab")) as lab:
        yield directory, lab


def run_block(block, cwd):
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.script()], cwd=cwd,
                          capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


RUN = [b for b in BLOCKS if kind(b) == "run"]


@pytest.mark.parametrize("block", RUN, ids=[b.where for b in RUN])
def test_a_documented_command_runs(block, scratch_with_lab):
    cwd, lab = scratch_with_lab
    done = run_block(block, cwd)
    assert done.returncode == 0, "%s: exit status %d\n%s\n%s" % (
        block.where, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    if ".lab/notify_message.yaml" in block.text:
        assert lab.received(), "%s: the lab's servers received nothing" % block.where


# the same command shown on several pages is started once, named by every place
LONG: Dict[str, List[str]] = {}
for _block in BLOCKS:
    if kind(_block) == "long":
        LONG.setdefault(_block.commands()[0], []).append(_block.where)


@pytest.mark.parametrize("command, where", LONG.items(), ids=[" ".join(w) for w in LONG.values()])
def test_a_documented_long_running_command_starts_and_stops(command, where, tmp_path):
    process = subprocess.Popen(["bash", "-c", command], cwd=make_scratch(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        for line in process.stdout:
            if line.rstrip("\n") == LONG_RUNNING[command]:
                break
        else:
            pytest.fail("%s: ended before it was ready: %s" % (where,
                                                               process.stderr.read()))
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_a_failing_block_is_named_by_file_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```sh\ntrue\nfalse   # fails\ntrue\n```\n", encoding="utf-8")
    [block] = shell_blocks(str(page))
    assert kind(block) == "run" and block.where.endswith("page.md:3")
    assert run_block(block, str(tmp_path)).returncode == 1   # bash -e stops at the failure
