"""Outlook messages (.msg): headers, body and readable attachments, like an .eml.

Read with python-oxmsg (the OLE compound file of Outlook); sections as in `mail.load_eml`: the
headers (From, To, Date, Subject, the attachments' names), the plain-text body, then each
attachment of a supported type through `read_attachment`, under "Subject > name".
"""

from __future__ import annotations

import email.header
import io
import logging

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.common import Loaded, Metadata
from rag_app.ingest.loaders.mail import AttachmentReader, attachment_sections

log = logging.getLogger(__name__)

MSG_EXTENSIONS = frozenset({".msg"})
MSG_INVALID = "not a valid Outlook message (corrupt or truncated)"


def load_msg(data: bytes, read_attachment: AttachmentReader) -> Loaded:
    """The message's headers, body and readable attachments."""
    from oxmsg import Message

    try:
        message = Message.load(io.BytesIO(data))
        subject = " ".join((message.subject or "").split())
        sender = _decoded(str(message.sender or ""))
        sent = message.sent_date
        body = (message.body or "").strip()
        attachments = [(a.file_name or "", a.file_bytes or b"") for a in message.attachments]
    except Exception as exc:
        log.debug("python-oxmsg could not open the file", exc_info=True)
        raise LoadError(MSG_INVALID) from exc
    headers = [f"From: {sender}" if sender else "", f"Date: {sent:%Y-%m-%d %H:%M}" if sent else "",
               f"Subject: {subject}" if subject else ""]
    lines = [h for h in headers if h]
    attached: list[Section] = []
    for name, payload in attachments:
        if name and payload:
            note, found = attachment_sections(name, payload, subject, read_attachment)
            lines.append(note)
            attached.extend(found)
    sections = [Section("\n".join(lines), heading=subject)] if lines else []
    if body:
        sections.append(Section(body, heading=subject))
    metadata: Metadata = {}
    if subject:
        metadata["title"] = subject
    if sender:
        metadata["author"] = sender
    return sections + attached, metadata


def _decoded(header: str) -> str:
    """A header with its RFC 2047 encoded words ("=?UTF-8?B?…?=") decoded."""
    try:
        text = str(email.header.make_header(email.header.decode_header(header)))
    except (ValueError, LookupError, UnicodeDecodeError):
        text = header
    return " ".join(text.split())
