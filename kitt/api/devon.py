"""The Devon tab: a reverse proxy at `/devon-app/` that adds Devon's API key on the server side.

The browser never sees the key: it is injected into the upstream request only, and scrubbed from anything
Devon sends back (headers and the streamed body) in case Devon echoes it. The proxy sits behind KITT's own
auth; a request that changes something must come from KITT's own pages (same origin), so another site
cannot borrow a logged-in browser to drive Devon. When Devon is down the user gets a page saying so.

It goes only to the Devon an admin configured (the `devon_url` setting, which only an admin may change, or
DEVON_URL), never to a link-local or cloud-metadata address (checked again at every request, so a name
that starts resolving there is refused too, and the request goes to the very address that was checked:
no second lookup for a rebinding name to answer differently), and never follows a redirect with the key.
What Devon sends back cannot act as KITT: its cookies are dropped and its pages are served under a
sandboxing CSP, so they run in an origin of their own and cannot read or drive KITT's pages.
"""

import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from litestar import Request, route
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Response, Stream

from kitt.api.context import ApiContext
from kitt.devon.address import UpstreamRefused, pinned
from kitt.storage import settings as stored_settings

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
    "authorization",
}
DROPPED_FROM_UPSTREAM = HOP_BY_HOP | {
    "set-cookie",
    "set-cookie2",
    "content-security-policy",
    "content-encoding",
}
SAFE = {"GET", "HEAD", "OPTIONS"}
MASK = "[hidden]"
SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-downloads; frame-ancestors 'self'"


async def upstream(kitt: ApiContext) -> tuple[str | None, str | None]:
    """Devon's URL and key: saved settings first, then DEVON_URL / DEVON_API_KEY."""
    url = await stored_settings.text(kitt.db, "devon_url") or os.environ.get("DEVON_URL")
    key = await stored_settings.text(kitt.db, "devon_api_key") or os.environ.get("DEVON_API_KEY")
    return (url.rstrip("/") if url else None), key


def _same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is not None and origin.rstrip("/") == str(request.base_url).rstrip("/")


async def scrubbed(chunks: AsyncIterator[bytes], secret: bytes | None) -> AsyncIterator[bytes]:
    """The body with every occurrence of `secret` masked, also where it straddles two chunks."""
    if not secret:
        async for chunk in chunks:
            yield chunk
        return
    keep = len(secret) - 1
    carry = b""
    async for chunk in chunks:
        data = (carry + chunk).replace(secret, MASK.encode())
        carry, data = (data[-keep:], data[:-keep]) if keep and len(data) > keep else (data, b"")
        if data:
            yield data
    if carry:
        yield carry.replace(secret, MASK.encode())


def _page(status: int, message: str) -> Response[str]:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Devon</title>"
        '<link rel=stylesheet href="/static/kitt.css"><main><h1>Devon</h1>'
        f'<p class=error role=alert>{message}</p><p><a href="/">Back to KITT</a></p></main></html>'
    )
    return Response(body, status_code=status, media_type="text/html")


@route(
    ["/devon-app", "/devon-app/{path:path}"],
    http_method=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def devon_proxy(request: Request, kitt: ApiContext, path: str = "/") -> Response | Stream:
    url, key = await upstream(kitt)
    if url is None:
        raise NotFoundException(detail="Devon is not configured: set devon_url in settings or DEVON_URL")
    try:
        checked = await pinned(url)
    except UpstreamRefused as exc:
        raise PermissionDeniedException(detail=str(exc)) from None
    url = checked.url
    if request.method not in SAFE and not _same_origin(request):
        raise PermissionDeniedException("changes through the Devon proxy must come from KITT's own pages")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    if key:
        headers["authorization"] = f"Bearer {key}"
        headers["x-api-key"] = key
    target = f"{url}/{path.lstrip('/')}"
    if urlsplit(target).netloc != urlsplit(url).netloc:
        raise PermissionDeniedException(detail="the Devon proxy goes to Devon only")
    headers["host"] = urlsplit(url).netloc
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0), follow_redirects=False)
    try:
        upstream_request = client.build_request(
            request.method,
            target,
            params=request.url.query or None,
            headers=headers,
            content=await request.body(),
            extensions={"sni_hostname": checked.host} if target.startswith("https:") else None,
        )
        # To the address that was checked, not to a second lookup of the name (DNS rebinding).
        upstream_request.url = upstream_request.url.copy_with(host=checked.address)
        answer = await client.send(upstream_request, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        return _page(502, f"Devon at {url} cannot be reached ({type(exc).__name__}). Is it running?")
    secret = key.encode() if key else None
    out_headers = {
        k: (v.replace(key, MASK) if key else v)
        for k, v in answer.headers.items()
        if k.lower() not in DROPPED_FROM_UPSTREAM
    }
    out_headers["Content-Security-Policy"] = SANDBOX
    out_headers["X-Content-Type-Options"] = "nosniff"

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in scrubbed(answer.aiter_bytes(), secret):
                yield chunk
        finally:
            await answer.aclose()
            await client.aclose()

    return Stream(body(), status_code=answer.status_code, headers=out_headers)
