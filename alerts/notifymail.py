"""E-mail of the local notifier: the subject and text body of a payload, and blocking SMTP delivery.

Split from notifier.py so the queueing there stays readable. smtplib runs on a daemon thread
(`run_blocking`) under the notifier's per-attempt timeout. Credentials travel only inside TLS
(the config refuses a password with `security: none`), and errors carry the server's code and
text, never the password.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dxagent.config import EmailConfig
from dxagent.i18n import word

__all__ = ["EVENTS", "DeliveryError", "email_text", "smtp_send"]

# The event kinds of the payload, as words (English, Vietnamese).
EVENTS = {"problem": ("PROBLEM", "SỰ CỐ"), "change": ("CHANGED", "THAY ĐỔI"),
          "recovery": ("RECOVERED", "ĐÃ KHÔI PHỤC"), "reminder": ("STILL FAILING", "VẪN CÒN LỖI")}


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(ts))


def _status(name: str | None, lang: str) -> str:
    return word(name, lang) if name else ("?" if lang == "en" else "chưa rõ")


def email_text(doc: Mapping[str, Any], lang: str) -> tuple[str, str]:
    """Subject and plain-text body of the e-mail for a payload; `both` = Vietnamese first, then English."""
    langs = ("vi", "en") if lang == "both" else (lang,)
    site = doc["site"]
    where = site["name"] or site["id"]
    event_word = EVENTS[doc["event"]]
    first = langs[0]
    subject = (f"[dxagent] {event_word[first == 'vi']} {_status(doc['status'], first)}: {doc['check']} "
               f"{doc['target']} — {where}").replace("  ", " ")
    if lang == "both":
        subject += f" ({event_word[0]} {doc['status']})"
    parts = []
    for lg in langs:
        vi = lg == "vi"
        labels = (("Đơn vị", "Kiểm tra", "đích", "Trạng thái", "lý do", "từ", "Kết quả", "Gợi ý") if vi else
                  ("Site", "Check", "target", "Status", "reason", "since", "Result", "Hint"))
        change = f"{_status(doc['previous_status'], lg)} → {_status(doc['status'], lg)}"
        reason = f" ({labels[4]}: {doc['reason']})" if doc["reason"] else ""
        lines = [f"{event_word[vi]}",
                 f"{labels[0]}: {where} ({site['id']}{', ' + site['province'] if site['province'] else ''})",
                 f"{labels[1]}: {doc['check']} ({doc['kind']}), {labels[2]} {doc['target'] or '-'}",
                 f"{labels[3]}: {change}{reason}, {labels[5]} {_when(doc['started'])}",
                 f"{labels[6]}: {doc['summary'][lg]}"]
        if doc["hint"]:
            lines.append(f"{labels[7]}: {doc['hint'][lg]}")
        parts.append("\n".join(lines))
    agent = doc["agent"]
    footer = f"dxagent {agent['version']} @ {agent['host']} — id {doc['id']}"
    return subject, "\n\n".join(parts) + "\n\n-- \n" + footer + "\n"


class DeliveryError(Exception):
    """A failed attempt; `permanent` ones (HTTP 4xx, refused credentials, bad certificate) are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def smtp_send(mail: EmailConfig, doc: Mapping[str, Any], timeout: float) -> None:
    """Blocking SMTP delivery (on a daemon thread); SMTP errors become DeliveryError with the server's code."""
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    subject, body = email_text(doc, mail.lang)
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, mail.sender, ", ".join(mail.to)
    msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid("dxagent")
    msg.set_content(body)
    ctx = ssl.create_default_context(cafile=str(mail.ca_file) if mail.ca_file else None)
    try:
        if mail.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(mail.host, mail.port, timeout=timeout)
        with smtp:
            if mail.security == "starttls":
                smtp.starttls(context=ctx)
            if mail.username and mail.password is not None:
                _login(smtp, mail.username, mail.password.reveal())
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP AUTH refused ({exc.smtp_code})", permanent=True) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')[:200]}",
                            permanent=500 <= exc.smtp_code < 600) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise DeliveryError(f"SMTP recipients refused ({codes})", permanent=all(c >= 500 for c in codes)) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(f"TLS: {exc.verify_message}", permanent=True) from None
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from None


def _login(smtp: Any, user: str, password: str) -> None:
    """smtplib encodes credentials as ASCII; a password with Vietnamese letters goes as UTF-8 AUTH PLAIN (RFC 4616)."""
    import base64
    import smtplib

    if (user + password).isascii():
        smtp.login(user, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise DeliveryError("the server offers no AUTH PLAIN, needed for a non-ASCII user or password", permanent=True)
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, resp = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)
