"""Where a webhook may go: the addresses its host resolves to, checked at every delivery, and
a connection made to the very address that was checked.

A webhook URL is data anyone who can enqueue may choose, and the runner that POSTs it often
sits inside a private network. Left unchecked, a URL could make the runner reach services
that trust their network (a cloud metadata endpoint, an admin port on localhost). So each
delivery resolves the host and refuses any address that is not public, unless an operator
listed the host in ``TASKQUEUE["WEBHOOK_ALLOWED_HOSTS"]``.

The connection then goes to the address checked, not to the name again: a name whose DNS
answer changes between the check and the connect (DNS rebinding) cannot slip a private
address past the check. The request still carries the name in ``Host`` and, for https, in
the TLS handshake (SNI) and certificate check.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..conf import app_settings
from ..exceptions import InvalidValue
from .urls import check_webhook_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
# The IPv6 prefix whose addresses carry an IPv4 address in their last 32 bits, which a NAT64
# gateway reaches on the sender's behalf.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# What makes an address not public, in the order a refusal names them.
NOT_PUBLIC = (
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_unspecified", "the unspecified address"),
    ("is_reserved", "a reserved address"),
    ("is_private", "a private address"),
)


class RefusedAddress(Exception):
    """The URL's host is, or resolves to, an address webhooks may not be sent to."""


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str  # with the query, as sent in the request line
    address: str


def allowed_host(host: str) -> bool:
    """Whether ``WEBHOOK_ALLOWED_HOSTS`` lists ``host`` (names and IP literals, any case)."""
    listed = {_normal_host(entry) for entry in app_settings.WEBHOOK_ALLOWED_HOSTS or ()}
    return _normal_host(host) in listed


def _normal_host(host: str) -> str:
    return str(host).strip().strip("[]").rstrip(".").lower()


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not public, or None if it is.

    An IPv6 address that stands for an IPv4 one is judged by that IPv4 address:
    ``::ffff:127.0.0.1`` is loopback, whatever its form.
    """
    for candidate in _judged(address):
        for test, reason in NOT_PUBLIC:
            if getattr(candidate, test):
                return reason
        if not candidate.is_global:  # shared (100.64.0.0/10), documentation, and the like
            return "not a public address"
    return None


def _judged(address: IPAddress) -> list[IPAddress]:
    """The addresses that decide for ``address``. An IPv4-mapped or NAT64 (RFC 6052) address
    is its IPv4 address alone (Python calls their IPv6 ranges reserved, though they reach the
    IPv4 internet); 6to4 and Teredo addresses must pass with the IPv4 ones they carry."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in NAT64_PREFIX:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    carried = [address.sixtofour, *(address.teredo or ())]
    return [address, *(candidate for candidate in carried if candidate is not None)]


def resolve_target(url: str) -> Target:
    """The checked destination of ``url``.

    Raises ``RefusedAddress`` for a URL that breaks the rule of ``check_webhook_url`` or a
    host with any address that is not public (a name with one private address among public
    ones is suspect, not half usable), and ``OSError`` when the name does not resolve, which
    may pass.
    """
    try:
        check_webhook_url(url)
    except InvalidValue as exc:  # stored before the rule, or by hand
        raise RefusedAddress(str(exc)) from None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:  # an internationalized name as the ASCII form that DNS, Host and SNI all need
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except UnicodeError:
        raise RefusedAddress(f"{parts.hostname!r} is not a valid host name.") from None
    port = parts.port or DEFAULT_PORTS[scheme]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allowed_host(host):
        for address in addresses:
            reason = refusal(ipaddress.ip_address(address))
            if reason is not None:
                shown = host if host == address else f"{host} ({address})"
                raise RefusedAddress(
                    f"{shown} is {reason}; list the host in TASKQUEUE['WEBHOOK_ALLOWED_HOSTS'] "
                    "to allow it."
                )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme, host, port, path, addresses[0])


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to ``target.address`` that names ``target.host`` in the request.

    ``cut_off()``, called from another thread, ends a request that has run out of time even
    while it waits mid-read: a socket timeout alone bounds each read, not the whole answer,
    so a receiver trickling a byte at a time could hold a runner thread for ever.
    """

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target
        self.was_cut_off = False

    def connect(self) -> None:
        self.sock = socket.create_connection((self.target.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def cut_off(self) -> None:
        self.was_cut_off = True
        sock = self.sock  # once: the requesting thread may close it (and set None) meanwhile
        if sock is not None:
            # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would unwrap
            # the TLS object that the reading thread is using.
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:  # closed meanwhile: the request ended on its own
                pass


class PinnedTLSConnection(PinnedConnection):
    """The same over TLS, the certificate checked against the host name, not the address."""

    default_port = http.client.HTTPS_PORT  # left out of the Host header when used

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target, timeout)
        self.tls = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.target.host)


def pinned_connection(target: Target, timeout: float) -> PinnedConnection:
    kind = PinnedTLSConnection if target.scheme == "https" else PinnedConnection
    return kind(target, timeout)
