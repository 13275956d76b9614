"""Where KITT may send a request a configuration names (a Devon, a campaign's webhook): an ordinary
http(s) address, never a link-local or cloud-metadata one, with no credentials in the URL.

The server's Devon proxy, agents fetching through their Devon and campaign webhooks all check here, each
time before they connect (a name may start resolving somewhere else later).
"""

import asyncio
import ipaddress
import socket
from typing import NamedTuple
from urllib.parse import urlsplit

METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}


class UpstreamRefused(ValueError):
    pass


class Checked(NamedTuple):
    url: str  # as configured, without a trailing '/'
    host: str  # the name in it
    address: str  # what that name resolved to when it was checked: connect here, not to a new lookup


async def pinned(url: str, what: str = "devon_url") -> Checked:
    """`url` and the address it resolved to, once every address the name has is shown to be an ordinary
    one (`what` names the URL in the error); raises UpstreamRefused. Connecting to `address` (with the
    name as Host and TLS server name) leaves no second lookup for a rebinding name to answer otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamRefused(f"{what} {url!r}: expected http(s)://HOST[:PORT][/PATH]")
    if parts.username or parts.password or parts.fragment:
        raise UpstreamRefused(f"{what}: no credentials or fragment in the URL")
    if parts.query and what == "devon_url":
        raise UpstreamRefused(f"{what}: no query either (the key goes in devon_api_key)")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 80, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError) as exc:
        raise UpstreamRefused(f"{what}: cannot resolve {parts.hostname}: {exc}") from None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if ip in METADATA or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            raise UpstreamRefused(f"{what}: {parts.hostname} is {ip}, a link-local or metadata address")
    return Checked(url.strip().rstrip("/"), parts.hostname, str(found[0][4][0]))


async def check_url(url: str, what: str = "devon_url") -> str:
    """`url` without a trailing '/', once `pinned` has checked it; raises UpstreamRefused."""
    return (await pinned(url, what)).url


async def check_upstream(url: str) -> str:
    """A Devon base URL (the `devon_url` setting, DEVON_URL, an agent's own)."""
    return await check_url(url, "devon_url")
