"""The exporter-toolkit web config file: TLS and basic auth, as node_exporter reads it.

Operators already write this file for node_exporter (`--web.config.file`), so dxagent reads
the same keys: `tls_server_config` (cert_file, key_file, client_auth_type, client_ca_file,
min_version, max_version), `http_server_config.headers` and `basic_auth_users` (user →
bcrypt hash). Keys exporter-toolkit knows but Python's ssl cannot honour the same way
(cipher_suites, curve_preferences, prefer_server_cipher_suites, http2) are accepted and logged,
never silently different. Errors name file, line and field like the main config.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from dxagent.config import yamlsrc
from dxagent.config.problems import ConfigError, Problem, problems_from
from dxagent.config.types import Model

__all__ = ["WebConfig", "TLSServerConfig", "load_web_config", "BasicAuth"]

log = logging.getLogger(__name__)

ClientAuth = Literal[
    "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
]
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class TLSServerConfig(Model):
    """`tls_server_config`: the server certificate and optional client-certificate checks."""

    cert_file: Path = Field(description="PEM certificate (chain) of this agent.")
    key_file: Path = Field(description="PEM private key of the certificate.")
    client_auth_type: ClientAuth = Field("NoClientCert", description="Whether client certificates are asked for.")
    client_ca_file: Path | None = Field(None, description="CA bundle for client certificates.")
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = Field("TLS12", description="Lowest TLS version.")
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = Field("TLS13", description="Highest TLS version.")
    cipher_suites: list[str] | None = Field(None, description="Accepted for compatibility; Python's defaults apply.")
    curve_preferences: list[str] | None = Field(None, description="Accepted for compatibility; not applied.")
    prefer_server_cipher_suites: bool | None = Field(None, description="Accepted for compatibility; not applied.")
    client_allowed_sans: list[str] | None = Field(None, description="Client certificate SANs allowed (exact match).")

    @model_validator(mode="after")
    def _client_ca(self) -> TLSServerConfig:
        verifies = self.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
        if verifies and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if _VERSIONS[self.min_version] > _VERSIONS[self.max_version]:
            raise ValueError("min_version is above max_version")
        return self


class HTTPServerConfig(Model):
    """`http_server_config`: extra response headers (http2 is accepted; dxagent speaks HTTP/1.1)."""

    http2: bool | None = Field(None, description="Accepted for compatibility; dxagent serves HTTP/1.1.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers added to every response.")

    @field_validator("headers")
    @classmethod
    def _safe_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, v in value.items():
            if not name or any(c in name for c in " :\r\n") or any(c in v for c in "\r\n"):
                raise ValueError(f"invalid header {name!r}")
        return value


class WebConfig(Model):
    """The whole web config file; every part optional (an empty file means plain HTTP, no auth)."""

    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    source: str = Field("<memory>", exclude=True)

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for user, hashed in value.items():
            if ":" in user:
                raise ValueError(f"user name {user!r} must not contain ':'")
            if not (hashed.startswith(("$2a$", "$2b$", "$2y$")) and len(hashed) == 60):
                raise ValueError(f"password of {user!r} must be a bcrypt hash ($2y$…, 60 characters), "
                                 "e.g. from `htpasswd -nBC 10 \"\" | tr -d ':'`")
        return value

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context, or None for plain HTTP; file errors become ConfigError."""
        tls = self.tls_server_config
        if tls is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _VERSIONS[tls.min_version]
        ctx.maximum_version = _VERSIONS[tls.max_version]
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
            if tls.client_ca_file is not None:
                ctx.load_verify_locations(cafile=str(tls.client_ca_file))
        except (OSError, ssl.SSLError) as exc:
            what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError([Problem(self.source, None, "tls_server_config", f"cannot load certificate/key: {what}")]) from None
        if tls.client_auth_type in ("RequireAnyClientCert", "RequireAndVerifyClientCert"):
            ctx.verify_mode = ssl.CERT_REQUIRED
        elif tls.client_auth_type in ("RequestClientCert", "VerifyClientCertIfGiven"):
            ctx.verify_mode = ssl.CERT_OPTIONAL
        if tls.client_auth_type in ("RequestClientCert", "RequireAnyClientCert") and tls.client_ca_file is None:
            log.warning("%s: client_auth_type %s without client_ca_file: Python cannot accept unverified client "
                        "certificates, so none will be accepted", self.source, tls.client_auth_type)
        for name in ("cipher_suites", "curve_preferences", "prefer_server_cipher_suites"):
            if getattr(tls, name) is not None:
                log.warning("%s: tls_server_config.%s is not applied by dxagent (Python's ssl defaults are used)",
                            self.source, name)
        return ctx


def load_web_config(path: Path | str) -> WebConfig:
    """Read and validate a web config file; ConfigError names file:line:field on mistakes."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(p), None, "", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        src = yamlsrc.load(text, str(p))
    except yamlsrc.YamlError as exc:
        raise ConfigError([Problem(str(p), exc.line, "", exc.message)]) from None
    data = src.data if src.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(p), 1, "", "the web config must be a YAML mapping")])
    try:
        cfg = WebConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, src, ())) from None
    cfg = cfg.model_copy(update={"source": str(p)})
    cfg.ssl_context()  # fail now on unreadable certificates, not at the first connection
    return cfg


class BasicAuth:
    """Checks `Authorization: Basic` against bcrypt hashes, with a small cache of good answers.

    bcrypt costs ~50-250 ms per check by design; Prometheus scrapes every 15-60 s with the same
    credentials, so the result of a verified (user, password) is cached under a SHA-256 of
    both (exporter-toolkit does the same). Unknown users are checked against a dummy hash so
    that timing does not reveal which user names exist.
    """

    def __init__(self, users: dict[str, str], cache_size: int = 64) -> None:
        self.users = dict(users)
        self._dummy: bytes | None = None
        self._good: OrderedDict[bytes, None] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def check(self, user: str, password: str) -> bool:
        """True when the credentials match; blocking (bcrypt), so call it off the event loop."""
        import bcrypt

        key = hashlib.sha256(b"%s\0%s" % (user.encode(), password.encode())).digest()
        with self._lock:
            if key in self._good:
                self._good.move_to_end(key)
                return True
        hashed = self.users.get(user)
        if hashed is None and self._dummy is None:
            self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(10))
        try:
            ok = bcrypt.checkpw(password.encode(), hashed.encode() if hashed else self._dummy or b"")
        except ValueError:
            ok = False
        ok = ok and hashed is not None
        if ok:
            with self._lock:
                self._good[key] = None
                while len(self._good) > self._size:
                    self._good.popitem(last=False)
        return ok
