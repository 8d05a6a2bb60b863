"""AMI over TLS (manager.conf `tlsenable`, port 5039), for an agent on another host than Asterisk.

Verification is on by default: the server's certificate must chain to a CA of `tls_ca_file` (without one, of
the system's trusted CAs) and name `host`. `tls_verify = false` turns that off, with a warning in the log, since
anyone on the path could then pose as Asterisk and read the AMI secret (docs/security.md, "AMI over TLS").
A connection error is said in one line of plain words (`failure_reason`), never as a traceback.
"""

from __future__ import annotations

import ssl

from agent.ami.config import AmiConfig


def client_context(settings: AmiConfig) -> ssl.SSLContext | None:
    """The TLS context to connect with, or None for plain TCP."""
    if not settings.tls:
        return None
    context = ssl.create_default_context(cafile=settings.tls_ca_file)
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def unverified_warning(settings: AmiConfig) -> str:
    """The warning to log when TLS is on without verification, else ""."""
    if not settings.tls or settings.tls_verify:
        return ""
    return (f"AMI over TLS to {settings.host}:{settings.port} without checking its certificate "
            "(EVENT_AGENT_AMI__TLS_VERIFY=false): anyone on the path can pose as Asterisk and read the AMI secret")


def failure_reason(exc: BaseException) -> str:
    """A connection error in plain words: `connection refused`, `timed out`, `TLS certificate not accepted: ...`,
    or the system's message."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc).replace("_", " ").lower()
        return f"TLS handshake failed: {reason} (is the port a TLS port, manager.conf tlsbindaddr?)"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
