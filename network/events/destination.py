"""Where a webhook may point: a URL read one way only, at an address outside the hub's own network.

A partner chooses its webhook's URL and reads each attempt's outcome, so a
URL aimed at the hub's network (its database's port, a cloud metadata
address) would let it scan what it must not reach. Two readings of one URL
(ours for the check, the HTTP client's for the connection) or two answers
for one name (one for the check, one for the connection) are how such a URL
slips through: here the URL is parsed once, strictly, the name is resolved
once, every answer is checked, and the sender connects to the checked
address itself (delivery.py), never handing the URL to another parser.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(ValueError):
    """A URL a webhook may not use; the message says what the URL must be ("must ...")."""


class PrivateAddress(Refused):
    """The URL's host is, or resolves to, an address inside some network (unless private networks are allowed)."""

    def __init__(self, address: IPAddress):
        super().__init__(f"must not point at a private, loopback, link-local or reserved address ({address})")
        self.address = address


@dataclass(frozen=True)
class Target:
    """A webhook URL as the sender uses it: whom to resolve, where to connect, what to ask for."""

    scheme: str
    host: str  # lowercased, without brackets; an IP literal as written
    port: int
    path: str  # path and query, as sent on the request line
    literal: IPAddress | None  # the address the host spells, if it is one (in any of IPv4's old forms)

    @property
    def host_header(self) -> str:
        """The `Host` header (and the TLS name) the receiver expects, though the connection goes to an address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def parse(url: str) -> Target:
    """The URL read strictly: http(s), a host, no user info, no backslash, whitespace or control character."""
    if any(char <= " " or char in "\\\x7f" for char in url):
        raise Refused("must not contain spaces, control characters or backslashes")
    if not url.isascii():
        raise Refused("must be ASCII (a name in its xn-- form, a path percent-encoded)")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [ of an IPv6 address
        raise Refused("must be an http:// or https:// URL with a host") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise Refused("must be an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise Refused("must not carry user info (user:password@)")
    host = parts.hostname or ""
    if not host:
        raise Refused("must be an http:// or https:// URL with a host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise Refused("must have a port from 1 to 65535") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, literal_address(host))


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, if it is one: IPv6, dotted IPv4, or IPv4's decimal, octal, hex and short forms.

    The C resolver reads `2130706433`, `0x7f.1` and `0177.0.0.1` as 127.0.0.1,
    so they are addresses to check, not names.
    """
    if ":" in host:
        try:
            return ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            raise Refused("must have a valid IPv6 address in its brackets") from None
    if host.replace(".", "").isalnum() and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def internal(ip: IPAddress) -> bool:
    """Is `ip` inside some network rather than on the public internet (or an IPv6 spelling of such an IPv4)?"""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and internal(embedded):
            return True
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified or not ip.is_global)


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host resolves to, once: the sender checks them all and connects to one of them."""
    if target.literal is not None and ":" in target.host:
        return [target.literal]
    found = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in found:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OSError(f"{target.host} resolves to no address")
    return addresses


def checked_address(target: Target, *, private_networks: bool) -> IPAddress:
    """The address to connect to: the first the host resolves to, once every one of them is allowed.

    Raises PrivateAddress naming the first internal one (unless private
    networks are allowed), OSError when the name does not resolve.
    """
    addresses = resolve(target)
    if not private_networks:
        for address in addresses:
            if internal(address):
                raise PrivateAddress(address)
    return addresses[0]


def check(url: str, *, private_networks: bool) -> Target:
    """What registration refuses before anything is stored: a URL read two ways, or an internal address literal."""
    target = parse(url)
    if not private_networks and target.literal is not None and internal(target.literal):
        raise PrivateAddress(target.literal)
    return target
