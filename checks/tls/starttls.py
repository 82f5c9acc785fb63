"""STARTTLS for the `tls` kind: just enough SMTP, IMAP and POP3 to ask for the upgrade, bounded against endless replies."""

from __future__ import annotations

import asyncio

__all__ = ["StartTLSError", "upgrade"]


class StartTLSError(Exception):
    """The server did not accept the protocol upgrade; the message quotes its reply."""


async def _line(reader: asyncio.StreamReader) -> str:
    raw = await reader.readline()
    if not raw:
        raise StartTLSError("server closed the connection")
    return raw.decode("utf-8", "replace").rstrip("\r\n")


async def _smtp_reply(reader: asyncio.StreamReader) -> tuple[str, list[str]]:
    """One (multi-line) SMTP reply: its code and its lines; bounded against endless replies."""
    lines: list[str] = []
    for _ in range(100):
        line = await _line(reader)
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return line[:3], lines
    raise StartTLSError("SMTP reply longer than 100 lines")


async def upgrade(proto: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Speak just enough SMTP/IMAP/POP3 to upgrade; returns the server's greeting."""
    if proto == "smtp":
        code, lines = await _smtp_reply(reader)
        if code != "220":
            raise StartTLSError(f"unexpected SMTP greeting: {lines[0][:120]}")
        writer.write(b"EHLO dxagent.invalid\r\n")
        code, caps = await _smtp_reply(reader)
        if code != "250":
            raise StartTLSError(f"EHLO refused: {caps[-1][:120]}")
        if not any(c[4:].strip().upper().startswith("STARTTLS") for c in caps):
            raise StartTLSError("server does not offer STARTTLS")
        writer.write(b"STARTTLS\r\n")
        code, reply = await _smtp_reply(reader)
        if code != "220":
            raise StartTLSError(f"STARTTLS refused: {reply[-1][:120]}")
        return lines[0]
    if proto == "imap":
        greeting = await _line(reader)
        if not greeting.upper().startswith("* OK"):
            raise StartTLSError(f"unexpected IMAP greeting: {greeting[:120]}")
        writer.write(b"a001 STARTTLS\r\n")
        for _ in range(100):
            line = await _line(reader)
            if line.startswith("a001 "):
                if line[5:].upper().startswith("OK"):
                    return greeting
                raise StartTLSError(f"STARTTLS refused: {line[:120]}")
        raise StartTLSError("no tagged reply to STARTTLS")
    greeting = await _line(reader)  # pop3
    if not greeting.startswith("+OK"):
        raise StartTLSError(f"unexpected POP3 greeting: {greeting[:120]}")
    writer.write(b"STLS\r\n")
    reply = await _line(reader)
    if not reply.startswith("+OK"):
        raise StartTLSError(f"STLS refused: {reply[:120]}")
    return greeting


