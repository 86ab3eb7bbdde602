"""The TLS side of ``--tls-port``: a server context from the shipped test-only certificate or the user's.

Imported only when a TLS port is asked for: ssl with OpenSSL costs start-up time and memory that
the plain-HTTP default does not pay (see ``keep_tls_out`` in app.py).
"""

from __future__ import annotations

import os
import ssl

# Self-signed, CN and SAN hitless-demo (also localhost, 127.0.0.1, ::1), valid until 2126. Its key
# is public in the hitless source: a test fixture, not a secret. The kubelet does not verify a
# probe's certificate, so any certificate will do for probes; a client that wants to verify can
# trust this file itself (it is its own issuer).
CERT_DIR = os.path.join(os.path.dirname(__file__), "certs")
DEFAULT_CERT = os.path.join(CERT_DIR, "demo-tls.crt")
DEFAULT_KEY = os.path.join(CERT_DIR, "demo-tls.key")


def server_context(cert: str | None, key: str | None) -> ssl.SSLContext:
    """A server context for HTTP/1.1 over TLS; OSError or ssl.SSLError if the files do not load."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert or DEFAULT_CERT, key or DEFAULT_KEY)
    # Go's client (the kubelet's prober) offers h2 and http/1.1; naming http/1.1 makes the
    # fallback explicit instead of relying on the client's behaviour when ALPN is absent.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
