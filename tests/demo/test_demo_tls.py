"""HTTPS on --tls-port, and what each kind of port costs: ssl and h2 load only when asked for."""

from __future__ import annotations

import http.client
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hitless.demo.tls import DEFAULT_CERT, DEFAULT_KEY

from .helpers import DemoApp, read_response

Start = Callable[..., DemoApp]


def _https(port: int, context: ssl.SSLContext | None = None) -> http.client.HTTPSConnection:
    # As the kubelet's prober does (InsecureSkipVerify): no verification unless a context says so.
    return http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=5, context=context or ssl._create_unverified_context()
    )


def test_tls_port_serves_the_same_endpoints(demo: Start) -> None:
    app = demo("--tls-port", "0", "--readyz", "fail")
    port = app.port_of("https")
    conn = _https(port)
    echo = read_response(conn, "/echo").json()
    assert (echo["scheme"], echo["local"]) == ("https", {"ip": "127.0.0.1", "port": port})
    assert read_response(conn, "/readyz").status == 503  # same state, kept-alive TLS connection
    assert read_response(conn, "/healthz").text == "ok\n"
    conn.close()
    assert app.request("/echo").json()["scheme"] == "http"  # the plain port serves on
    assert "tls: certificate the test-only hitless-demo one" in app.output


def test_shipped_certificate_verifies_as_hitless_demo(demo: Start) -> None:
    app = demo("--tls-port", "0")
    context = ssl.create_default_context(cafile=DEFAULT_CERT)  # self-signed: its own issuer
    with (
        socket.create_connection(("127.0.0.1", app.port_of("https")), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="hitless-demo") as tls,
    ):
        assert tls.selected_alpn_protocol() is None  # the client offered none
        cert = tls.getpeercert() or {}
        assert ("DNS", "hitless-demo") in cert["subjectAltName"]
        assert ssl.cert_time_to_seconds(str(cert["notAfter"])) > 4_000_000_000  # valid past 2096
    with pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(
            socket.create_connection(("127.0.0.1", app.port_of("https")), timeout=5),
            server_hostname="other.example",
        )
    assert "TEST-ONLY" in Path(DEFAULT_KEY).read_text()  # labelled where a scanner would look


def test_own_certificate_flags_and_their_mistakes(demo: Start, tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    shutil.copy(DEFAULT_CERT, cert)
    shutil.copy(DEFAULT_KEY, key)
    app = demo("--tls-port", "0", "--tls-cert", str(cert), "--tls-key", str(key))
    assert read_response(_https(app.port_of("https")), "/hostname").status == 200
    assert f"tls: certificate {cert}" in app.output
    for args, message in [
        (["--tls-port", "0", "--tls-cert", str(cert)], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(cert), "--tls-key", str(key)], "--tls-cert needs a --tls-port"),
        (["--tls-port", "0", "--tls-cert", str(key), "--tls-key", str(key)], "cannot load the TLS"),
        (["--grpc-service", "db"], "--grpc-health and --grpc-service need a --grpc-port"),
    ]:
        bad = demo(*args, listen=False)
        assert bad.wait(10) == 2
        assert message in bad.output


IMPORTS = """
import sys
from hitless.demo.app import main
code = main(sys.argv[1:])
print("loaded:", *sorted(m for m in ("ssl", "_ssl", "h2", "hpack", "grpc") if sys.modules.get(m)))
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("flags", "loaded"),
    [
        ([], ""),  # the default start-up path: no TLS, no HTTP/2
        (["--tls-port", "0"], "_ssl ssl"),
        (["--grpc-port", "0"], "h2 hpack"),
    ],
)
def test_each_kind_of_port_imports_only_what_it_needs(flags: list[str], loaded: str) -> None:
    # Stopped once every port listens (SIGTERM, --on-sigterm exit), not after a fixed time: a
    # loaded machine may take longer than any fixed time to import and bind.
    args = ["--address", "127.0.0.1", "-p", "0", *flags, "--on-sigterm", "exit"]
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORTS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        while sum("listening on" in line for line in lines) < 1 + len(flags) // 2:
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.communicate(timeout=20)[1]
            lines.append(line)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout = "".join(lines) + out
    assert proc.returncode == 0, stdout + err
    assert f"loaded: {loaded}".strip() == stdout.splitlines()[-1].strip(), stdout
    assert stdout.count("listening on") == 1 + len(flags) // 2
