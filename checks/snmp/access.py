"""How to reach an SNMP agent: version, community or v3 user and keys, per-request timeout and retries.

One model for every reader of SNMP (the `snmp` kind's fields, the `ups` kind's `snmp:` block), so
the security rules and their messages are written once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dxagent.checks.snmp import session as session
from dxagent.checks.snmp.session import Credentials
from dxagent.config.types import Duration, Model, Secret

__all__ = ["SnmpAccess", "SecurityLevel", "AuthProtocol", "PrivProtocol"]

SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]
AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "3DES", "AES", "AES192", "AES256", "AES192C", "AES256C"]


class SnmpAccess(Model):
    """SNMP version and credentials (secrets by reference) and the per-request timing."""

    version: Literal["v2c", "v3"] = Field(description="SNMP version: `v2c` (community) or `v3` (user-based security).")
    community: Secret | None = Field(None, description="v2c community (a secret reference).")
    user: str | None = Field(None, min_length=1, max_length=32, description="v3 user name.")
    security_level: SecurityLevel = Field("authPriv", description="v3 security level.")
    auth_protocol: AuthProtocol = Field("SHA", description="v3 authentication protocol.")
    auth_key: Secret | None = Field(None, description="v3 authentication passphrase (8+ characters; a secret reference).")
    priv_protocol: PrivProtocol = Field(
        "AES", description="v3 privacy protocol (`AES192`/`AES256`: Blumenthal as Net-SNMP; `…C`: Cisco key extension).")
    priv_key: Secret | None = Field(None, description="v3 privacy passphrase (8+ characters; a secret reference).")
    context: str = Field("", description="v3 context name (rarely needed).")
    request_timeout: Duration = Field(1.0, gt=0, le=30, description="Wait for one SNMP response.")
    request_retries: int = Field(1, ge=0, le=5, description="Re-sends of an unanswered SNMP request.")

    @model_validator(mode="after")
    def _security(self) -> SnmpAccess:
        v3_fields = [n for n in ("user", "auth_key", "priv_key") if getattr(self, n) is not None]
        if self.version == "v2c":
            if self.community is None:
                raise ValueError("version v2c needs `community` (e.g. community: {env: SNMP_COMMUNITY})")
            if v3_fields:
                raise ValueError(f"version v2c uses `community` only; remove {', '.join(v3_fields)} or set version: v3")
            return self
        if self.community is not None:
            raise ValueError("version v3 does not use `community`; remove it or set version: v2c")
        if self.user is None:
            raise ValueError("version v3 needs `user`")
        needs_auth = self.security_level in ("authNoPriv", "authPriv")
        needs_priv = self.security_level == "authPriv"
        for name, needed in (("auth_key", needs_auth), ("priv_key", needs_priv)):
            key = getattr(self, name)
            if needed and key is None:
                raise ValueError(f"security_level {self.security_level} needs `{name}`")
            if not needed and key is not None:
                raise ValueError(f"security_level {self.security_level} does not use `{name}`; remove it or raise the level")
            if key is not None and key.resolved and len(key.reveal()) < 8:
                raise ValueError(f"`{name}` must be at least 8 characters (RFC 3414)")
        return self

    def request_budget(self) -> float:
        """The longest a silent agent can hold one request: every try waits `request_timeout`."""
        return self.request_timeout * (self.request_retries + 1)

    def credentials(self) -> Credentials:
        """Plain credentials for the session (the only place secrets are revealed)."""
        return session.credentials(self)
