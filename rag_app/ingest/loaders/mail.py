"""E-mail (.eml): the headers, the body, and the attachments rag_app can read.

Parsed with the standard library (`email`, the modern policy: encoded words and charsets are
decoded). Sections, under the subject as heading:
- the headers a person searches by (From, To, Cc, Date, Subject), with the names of the
  attachments;
- the body: the text/plain part, else the text of the text/html part;
- each attachment of a supported type, read by its own loader (`read_attachment`, given by the
  registry), under the heading "Subject > attachment name" with its pages kept; a forwarded
  message (message/rfc822) the same way, two levels deep at most.
An attachment that cannot be read is named in the headers section with the reason.
"""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from email.message import EmailMessage, Message
from pathlib import PurePath

from rag_app.ingest.document import LoadError, Section
from rag_app.ingest.loaders.common import Loaded, Metadata
from rag_app.ingest.loaders.html import load_html

log = logging.getLogger(__name__)

EML_EXTENSIONS = frozenset({".eml"})
HEADERS = ("From", "To", "Cc", "Date", "Subject")
MAX_DEPTH = 2  # forwarded messages read inside a message

# (file name, bytes) -> its sections; raises LoadError (UnsupportedFormatError for a type not read)
AttachmentReader = Callable[[str, bytes], list[Section]]


def load_eml(data: bytes, read_attachment: AttachmentReader) -> Loaded:
    """The message's headers, body and readable attachments (see the module docstring)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the modern policy's class
    if not any(message.get(h) for h in HEADERS) and not message.is_multipart():
        raise LoadError("not an e-mail message (no From, To, Date or Subject header)")
    sections = _message_sections(message, read_attachment, depth=0)
    metadata: Metadata = {}
    subject = str(message.get("Subject", "")).strip()
    if subject:
        metadata["title"] = subject
    sender = str(message.get("From", "")).strip()
    if sender:
        metadata["author"] = sender
    return sections, metadata


def _message_sections(message: EmailMessage, read_attachment: AttachmentReader, depth: int) -> list[Section]:
    subject = " ".join(str(message.get("Subject", "")).split())
    headers = [f"{h}: {' '.join(str(message[h]).split())}" for h in HEADERS if message.get(h)]
    body: list[str] = []
    attached: list[Section] = []
    notes: list[str] = []
    part = message.get_body(preferencelist=("plain",))
    plain = _text(part) if part is not None else ""
    html = ""
    if not plain:
        part = message.get_body(preferencelist=("html",))
        html = _text(part) if part is not None else ""
    if plain:
        body.append(plain)
    elif html:
        body.extend(s.text for s in load_html(html.encode("utf-8"))[0])
    for part in message.iter_attachments():
        name = part.get_filename() or ""
        if part.get_content_type() == "message/rfc822" and depth < MAX_DEPTH:
            inner = part.get_content()
            if isinstance(inner, EmailMessage):
                attached.extend(_under(s, subject) for s in _message_sections(inner, read_attachment, depth + 1))
                continue
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes) and payload:
            note, found = attachment_sections(name, payload, subject, read_attachment)
            notes.append(note)
            attached.extend(found)
    sections = [Section("\n".join(headers + notes), heading=subject)] if headers or notes else []
    if body:
        sections.append(Section("\n\n".join(body), heading=subject))
    return sections + attached


def attachment_sections(name: str, payload: bytes, subject: str,
                        read_attachment: AttachmentReader) -> tuple[str, list[Section]]:
    """The line naming an attachment in the headers section ("Attachment: report.pdf", with
    the reason when it could not be read) and its sections under "subject > name"."""
    try:
        found = read_attachment(name, payload)
    except LoadError as exc:
        return f"Attachment: {name} (not read: {exc.reason})", []
    return f"Attachment: {name}", [_under(s, subject, PurePath(name).name) for s in found]


def _under(section: Section, *labels: str) -> Section:
    """``section`` with ``labels`` (the subject, an attachment's name) put before its heading."""
    heading = " > ".join(h for h in (*labels, section.heading) if h)
    return Section(section.text, section.page, heading, section.ocr)


def _text(part: Message) -> str:
    """A text part's content, decoded (a wrong charset label is read as Latin-1, not an error)."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeDecodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("latin-1") if isinstance(payload, bytes) else ""
    return content.strip() if isinstance(content, str) else ""
