"""TLS failures that another attempt cannot fix, told apart from the ones it may: pure.

A connection error is retried (and a watch waits out an outage) because the network may heal.
Two TLS failures never do, however often they are tried:

* the server's certificate fails verification (expired, self-signed, for another name): the
  same certificate comes back on every attempt;
* the server answers the TLS handshake with something that is not TLS, as a plain-http
  server does (``https://`` for the emulator's ``http://``). OpenSSL reports the bytes it
  could not read as a record: ``WRONG_VERSION_NUMBER`` (OpenSSL 3.0, 3.1) or
  ``RECORD_LAYER_FAILURE`` (3.2 and later).

* the server refuses the client's certificate, or asks for one the client did not send
  (TLS 1.3 tells so with the first read, after the handshake): it names the alert.

Any other TLS error (a handshake cut short, ``SSLEOFError``) may be the network's and is
retried like any connection error; so is a record that is not TLS after a handshake that
succeeded (a stream spoilt on the way): :data:`NOT_TLS` is the transport's verdict on the
handshake's failures only.
"""

from __future__ import annotations

import ssl
from typing import Final

from kernel_async._scrub import exception_graph

__all__ = [
    "CERTIFICATE_FAILED",
    "CLIENT_CERTIFICATE_REFUSED",
    "NOT_TLS",
    "lasting_tls_failure",
    "may_heal",
]

CERTIFICATE_FAILED: Final = "the server's TLS certificate failed verification"
NOT_TLS: Final = "the server does not speak TLS"

CLIENT_CERTIFICATE_REFUSED: Final = "the server requires a client certificate it accepts"

_NOT_TLS_REASONS: Final = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"})
# Alerts the server sends about the client's certificate (ours, on the server's, raise
# SSLCertVerificationError): none sent, or one it refuses.
_CLIENT_CERTIFICATE_ALERTS: Final = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
    }
)


def lasting_tls_failure(error: BaseException) -> str | None:
    """What TLS failure behind ``error`` no retry can fix (see the module docs), or ``None``.

    Looks through everything ``error`` reaches (aiohttp keeps the ``ssl`` error as an
    attribute of its own, which ours is chained to).
    """
    for each in exception_graph(error):
        if isinstance(each, ssl.SSLCertVerificationError):
            return CERTIFICATE_FAILED
        reason = getattr(each, "reason", None) if isinstance(each, ssl.SSLError) else None
        if reason in _NOT_TLS_REASONS:
            return NOT_TLS
        if reason in _CLIENT_CERTIFICATE_ALERTS:
            return CLIENT_CERTIFICATE_REFUSED
    return None


def may_heal(error: BaseException, *, in_handshake: bool) -> bool:
    """Whether another attempt may fare better than the one that failed with ``error``.

    ``in_handshake``: it failed in the TLS handshake. A record that is not TLS says the
    server does not speak it only there: after a handshake that succeeded, it may be the
    network's.
    """
    lasting = lasting_tls_failure(error)
    return lasting is None or (lasting == NOT_TLS and not in_handshake)
