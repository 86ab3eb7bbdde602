"""The kubelet's HTTP GET, for httpGet probes and hooks: Go's net/http client as the kubelet sets it up.

A request is written as Go's transport writes it (Host, User-Agent, the other headers sorted by
name, then what the transport adds), one connection each; the response is read as Go reads it;
redirects are followed under the caller's policy; errors read as Go's ``err.Error()``
(``Get "http://10.0.0.1:8080/healthz": dial tcp 10.0.0.1:8080: connect: connection refused``).
Sources: pkg/probe/http/request.go and http.go; Go's net/http client.go, transport.go, request.go,
response.go, transfer.go; net/url.
"""

from hitless.kubelet.http.client import (
    USE_LAST_RESPONSE,
    do,
    http_get,
    redirect_checker,
    request_headers,
    url_error,
)
from hitless.kubelet.http.url import (
    CTL,
    SCHEME,
    URL,
    Request,
    canonical_key,
    escape_path,
    escaped_path,
    new_request,
    resolve_location,
    unescape,
    user_agent,
)
from hitless.kubelet.http.wire import (
    MAX_BODY,
    BodyError,
    ClientError,
    Exchange,
    Response,
    StreamConn,
    read_body,
    read_head,
    tls_context,
    tls_error_text,
    wire,
)

__all__ = [
    "CTL",
    "MAX_BODY",
    "SCHEME",
    "URL",
    "USE_LAST_RESPONSE",
    "BodyError",
    "ClientError",
    "Exchange",
    "Request",
    "Response",
    "StreamConn",
    "canonical_key",
    "do",
    "escape_path",
    "escaped_path",
    "http_get",
    "new_request",
    "read_body",
    "read_head",
    "redirect_checker",
    "request_headers",
    "resolve_location",
    "tls_context",
    "tls_error_text",
    "unescape",
    "url_error",
    "user_agent",
    "wire",
]
