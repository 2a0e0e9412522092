"""Mail the hub sends itself (a member's sign-in link), through the SMTP server `COALITION_SMTP_URL` names.

`smtp://host:port` or `smtps://user:password@host:port` (TLS from the first
byte), `smtp+starttls://...` (upgraded after EHLO). Unset, nothing is sent and
the hub says so in its log: a page never tells a visitor whether an address
is known, so a mail that could not go must not change the page either.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)
TIMEOUT = 10


def send(url: str | None, sender: str, to: str, subject: str, text: str) -> bool:
    """Whether the server took the message; never raises (the page's answer must not depend on it)."""
    if not url:
        log.warning("No COALITION_SMTP_URL: a sign-in mail was not sent")
        return False
    parts = urlsplit(url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(text)
    try:
        kind = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        with kind(parts.hostname or "127.0.0.1", parts.port or (465 if parts.scheme == "smtps" else 25),
                  timeout=TIMEOUT) as server:
            if parts.scheme == "smtp+starttls":
                server.starttls()
            if parts.username:
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("A sign-in mail could not be sent: %s", exc)
        return False
    return True


def send_later(url: str | None, sender: str, to: str, subject: str, text: str) -> None:
    """`send` on a thread of its own: a page answers in the same time whether it had a mail to send or not (a known
    address must not be told apart by how long the answer took)."""
    threading.Thread(target=send, args=(url, sender, to, subject, text), name="coalition-mail", daemon=True).start()
