"""Which outbound targets the CRM adapters may call.

Connections point the server at URLs chosen by account users, so every target is checked against the
addresses its host resolves to: a link-local or cloud-metadata address is refused always (it exposes
instance credentials), loopback/private/reserved ones unless the deployment allows private networks
(self-hosted setups posting to an internal CRM). The rule is a pure function so configuration
checks and delivery-time checks (DNS can change after a connection was created) share it.
Messages name the host only: paths and query strings of webhook URLs often carry secrets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

# Metadata services that are not inside 169.254.0.0/16 or fe80::/10 (AWS IPv6 IMDS, Alibaba Cloud).
_METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix, IPv4 in the last 32 bits


def resolve_host(host: str) -> list[str]:
    """Every IP address `host` resolves to (raises OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, *, allow_private_networks: bool, resolve: Callable[[str], list[str]]) -> None:
    """Raise ValueError (readable message) when `url` is not an allowed http(s) target.

    A host that does not resolve raises OSError from `resolve`, so callers can tell a transient DNS
    failure from a refused target.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    # urllib3 connects to the host without its trailing dot: "169.254.169.254." is that address
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials in the URL")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = [ipaddress.ip_address(a) for a in resolve(host)]
        if not addresses:
            raise OSError(f"host {host!r} resolves to no address") from None
    for address in addresses:
        _refuse(host, "resolves to", address, allow_private_networks)


def check_peer(host: str, peer: str, *, allow_private_networks: bool) -> None:
    """Raise ValueError when a socket opened for `host` is connected to a forbidden address `peer`.

    check_url resolves the host once and the HTTP client resolves it again to connect, so a name
    that answers a public address first and a forbidden one next (DNS rebinding) passes check_url;
    the address actually connected to is what this checks.
    """
    _refuse(host, "connected to", ipaddress.ip_address(peer), allow_private_networks)


def _refuse(host: str, how: str, address, allow_private_networks: bool) -> None:
    """ValueError naming the host and address when the rule forbids it, and, for a refusal the
    deployment can lift (not the link-local/metadata one), how."""
    reason = _refusal(address, allow_private_networks)
    if not reason:
        return
    hint = ""
    if _refusal(address, True) is None:
        hint = (
            " (the server allows loopback and private targets when run with CRM_ALLOW_PRIVATE_NETWORKS=true)"
        )
    raise ValueError(f"host {host!r} {how} {reason} address {address}, which is not allowed{hint}")


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    """Why `address` is refused, if it is. An IPv6 address carrying an IPv4 one that a translator or
    tunnel delivers to (NAT64, 6to4) is refused when that IPv4 address is: 64:ff9b::a9fe:a9fe is the
    metadata service seen through NAT64."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _refusal(address.ipv4_mapped, allow_private)
        embedded = address.sixtofour
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        reason = embedded and _refusal(embedded, allow_private)
        if reason:
            return reason
    if address.is_link_local or address in _METADATA_ADDRESSES:
        return "a link-local/cloud-metadata"
    if allow_private:
        return None
    if address.is_loopback:
        return "a loopback"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "an unspecified/multicast/reserved"
    if not address.is_global:
        return "a private"
    return None
