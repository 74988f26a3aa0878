"""Properties of the email channel's parsers, tried with generated input: addresses, the
pipelined reply reader (however the server's bytes are split), and DATA's dot-stuffing."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from notify_message.bounded import control_character
from notify_message.channels.email.address import envelope_address, named_address
from notify_message.channels.email.pipeline import MalformedReply, _ReplyReader, dot_stuffed

SETTINGS = settings(max_examples=200, deadline=None, database=None, derandomize=True)


@SETTINGS
@given(st.text(max_size=120))
def test_an_accepted_address_is_one_printable_line_with_one_at(text):
    found = named_address(text)
    if found is None:
        return
    address, name = found
    assert control_character(address) is None and control_character(name) is None
    assert not any(c.isspace() for c in address) and not set(address) & set('<>(),;:"[]\\')
    local, at, domain = address.rpartition("@")
    assert at and local and "@" not in domain
    assert envelope_address(address).rpartition("@")[2].isascii()


@SETTINGS
@given(st.sampled_from(["用户", "ops", "a.b+tag"]),
       st.sampled_from(["例子.中国", "bücher.de", "163.com"]))
def test_an_international_domain_is_accepted_and_its_envelope_is_idna(local, domain):
    address, _ = named_address(f"{local}@{domain}")
    envelope = envelope_address(address)
    assert envelope.rpartition("@")[2] == domain.encode("idna").decode("ascii")
    assert envelope.rpartition("@")[0] == local


REPLIES = st.lists(st.tuples(st.sampled_from([220, 250, 354, 421, 450, 452, 550, 554]),
                             st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                              max_size=30), min_size=1, max_size=3)),
                   min_size=1, max_size=12)


def _wire(replies):
    data = b""
    for code, lines in replies:
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            data += f"{code}{sep}{line}\r\n".encode()
    return data


@SETTINGS
@given(REPLIES, st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_replies_read_the_same_however_the_bytes_are_split(replies, cuts):
    data = _wire(replies)

    async def read():
        reader = _ReplyReader()
        position = 0
        for cut in cuts:  # the server's bytes arrive in arbitrary chunks
            reader.data_received(data[position:position + cut])
            position += cut
        reader.data_received(data[position:])
        return [await reader.reply() for _ in replies]

    got = asyncio.run(read())
    assert [(r.code, r.text) for r in got] == [
        (code, "\n".join(line.strip() for line in lines)) for code, lines in replies]


@SETTINGS
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=4).map(b"\n".join))
def test_bytes_that_are_no_reply_end_the_stream_as_malformed_or_parse(data):
    async def read():
        reader = _ReplyReader()
        reader.data_received(data)
        reader.connection_lost(None)
        got = []
        try:
            while True:
                got.append(await reader.reply())
        except MalformedReply:
            return got, "malformed"
        except ConnectionError:
            return got, "closed"

    got, end = asyncio.run(read())
    assert end in ("malformed", "closed")
    assert all(200 <= r.code <= 599 for r in got)


@SETTINGS
@given(st.text(alphabet=".a\r\n", min_size=1, max_size=40))
def test_dot_stuffing_ends_the_content_once_and_undoes_cleanly(text):
    wire = dot_stuffed(text.encode())
    assert wire.endswith(b"\r\n.\r\n")
    body = wire[:-3].split(b"\r\n")[:-1]
    assert b"." not in body  # no line of the content is the end marker
    unstuffed = [line[1:] if line.startswith(b".") else line for line in body]
    expected = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if expected and expected[-1] == "":
        expected = expected[:-1]
    assert unstuffed == [e.encode() for e in expected]
