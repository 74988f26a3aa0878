"""notifyByCustom's ``attachments``: files given as base64 or as a path the config allows.

Each entry is ``{filename, content (base64) | path, contentType, inline, contentId}``.  A path
is resolved (symbolic links, ``..``) before it is checked against the instance's
``attachment_dirs``, and read whole here, so every size is known (and checked against
``max_attachment_bytes``) before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

from ...bounded import control_character
from ...errors import ParameterError
from ...params import as_list, as_text, as_flag
from .address import shown
from .config import SmtpInstance
from .message import Attachment

__all__ = ["parse_attachments", "MAX_ATTACHMENTS"]

MAX_ATTACHMENTS = 50
_KEYS = ("filename", "content", "path", "contentType", "inline", "contentId")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/"
                           r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$", re.ASCII)
_CONTENT_ID = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]{1,200}$", re.ASCII)
_BAD_NAME = re.compile(r"[/\\\"]")


def parse_attachments(value: Any, instance: SmtpInstance) -> tuple[Attachment, ...]:
    items = as_list("attachments", value)
    if len(items) > MAX_ATTACHMENTS:
        raise ParameterError("attachments", f"has {len(items)} entries; at most "
                             f"{MAX_ATTACHMENTS} are sent with one message")
    found: list[Attachment] = []
    total = 0
    for i, item in enumerate(items):
        attachment = _attachment(f"attachments[{i}]", item, instance)
        total += len(attachment.content)
        if total > instance.max_attachment_bytes:
            raise ParameterError("attachments", f"come to {total} bytes with entry {i}; the "
                                 f"SMTP instance {instance.assetname!r} allows "
                                 f"{instance.max_attachment_bytes} (max_attachment_bytes)")
        found.append(attachment)
    ids = [a.content_id.lower() for a in found if a.inline]
    if len(ids) != len(set(ids)):
        raise ParameterError("attachments", "two inline entries have the same contentId")
    return tuple(found)


def _attachment(name: str, item: Any, instance: SmtpInstance) -> Attachment:
    if not isinstance(item, Mapping):
        raise ParameterError(name, "expected an object {filename, content (base64) or path, "
                             f"contentType}}, got {type(item).__name__}")
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise ParameterError(f"{name}.{unknown[0]}", "is not a key of an attachment; "
                             "expected " + ", ".join(_KEYS))
    has_content = item.get("content") not in (None, "")
    has_path = item.get("path") not in (None, "")
    if has_content == has_path:
        raise ParameterError(name, "give exactly one of content (base64) and path")
    if has_content:
        data = _base64(f"{name}.content", item["content"])
    else:
        data = _read(f"{name}.path", item["path"], instance)
    filename = as_text(f"{name}.filename", item.get("filename")).strip()
    if not filename and has_path:
        filename = os.path.basename(str(item["path"]))
    if not filename:
        raise ParameterError(f"{name}.filename", "is required with content")
    if len(filename) > 255 or control_character(filename) is not None \
            or _BAD_NAME.search(filename) or filename in (".", ".."):
        raise ParameterError(f"{name}.filename", f"{shown(filename)} is not a file name (one "
                             "line, at most 255 characters, no / \\ or quotes)")
    content_type = as_text(f"{name}.contentType", item.get("contentType")).strip()
    if not content_type:
        import mimetypes

        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if not _CONTENT_TYPE.match(content_type):
        raise ParameterError(f"{name}.contentType", f"expected type/subtype such as "
                             f"application/pdf, got {shown(content_type)}")
    inline = as_flag(f"{name}.inline", item.get("inline"))
    if inline is None:
        raise ParameterError(f"{name}.inline", "expected true or false")
    content_id = as_text(f"{name}.contentId", item.get("contentId")).strip().strip("<>")
    if inline:
        content_id = content_id or filename
        if not _CONTENT_ID.match(content_id):
            raise ParameterError(f"{name}.contentId", f"{shown(content_id)} is not a content "
                                 "id (ASCII letters, digits and . @ - _ , as the HTML's "
                                 "cid: reference spells it)")
        if not content_type.lower().startswith("image/"):
            raise ParameterError(f"{name}.contentType", "an inline attachment is an image "
                                 f"(image/png, image/jpeg...), got {content_type}")
    elif content_id:
        raise ParameterError(f"{name}.contentId", "is only for inline images (inline: true)")
    return Attachment(filename=filename, content=data, content_type=content_type.lower(),
                      inline=inline, content_id=content_id)


def _base64(name: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ParameterError(name, f"expected base64 text, got {type(value).__name__}")
    compact = re.sub(r"[ \t\r\n]", "", value)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ParameterError(name, "is not valid base64 (A-Z a-z 0-9 + / and = padding)"
                             ) from None


def _read(name: str, value: Any, instance: SmtpInstance) -> bytes:
    path = as_text(name, value).strip()
    if control_character(path) is not None or "\0" in path:
        raise ParameterError(name, "contains a control character")
    if not instance.attachment_dirs:
        raise ParameterError(name, f"no directory allows attachment paths: set "
                             f"attachment_dirs of the SMTP instance {instance.assetname!r}, "
                             "or give the file as content (base64)")
    if not os.path.isabs(path):
        raise ParameterError(name, f"expected an absolute path, got {shown(path)}")
    real = os.path.realpath(path)  # symbolic links and .. resolved before the check
    allowed = [d for d in instance.attachment_dirs
               if os.path.commonpath([d, real]) == d and real != d]
    if not allowed:
        raise ParameterError(name, f"{shown(path)} is not under a directory of "
                             f"attachment_dirs ({', '.join(instance.attachment_dirs)}) once "
                             "symbolic links and .. are resolved")
    try:
        # non-blocking: a FIFO under an allowed directory must not hang the action
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ParameterError(name, f"{shown(path)} cannot be read ({exc.strerror or exc})"
                             ) from None
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise ParameterError(name, f"{shown(path)} is not a regular file")
        if status.st_size > instance.max_attachment_bytes:
            raise ParameterError(name, f"{shown(path)} is {status.st_size} bytes; the SMTP "
                                 f"instance allows {instance.max_attachment_bytes} "
                                 "(max_attachment_bytes)")
        try:
            data = handle.read(instance.max_attachment_bytes + 1)
        except OSError as exc:
            raise ParameterError(name, f"{shown(path)} cannot be read "
                                 f"({exc.strerror or exc})") from None
    if len(data) > instance.max_attachment_bytes:
        raise ParameterError(name, f"{shown(path)} grew past max_attachment_bytes")
    return data
