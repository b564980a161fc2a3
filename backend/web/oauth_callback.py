"""The page the OAuth callback shows when the connection was started without `return_to`.

api.md "Pages for people": only this server's own resources (no script at all here), nosniff, and no
Referer: the callback's URL carried the authorization code.
"""

from __future__ import annotations

from html import escape

from flask import Response, redirect

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>CRM connected</title></head>
<body><h1>{service} {verb}</h1>
<p>The connection &ldquo;{name}&rdquo; is ready; leads you send to it go to {service}.
You can close this window.</p></body></html>
"""


def connected_page(service: str, name: str, renewed: bool) -> Response:
    body = _PAGE.format(
        service=escape(service), name=escape(name), verb="reconnected" if renewed else "connected"
    )
    return Response(body, status=200, mimetype="text/html", headers=PAGE_HEADERS)


def back_to(url: str) -> Response:
    """Send the browser back to the app that started the connection (an origin checked at start)."""
    response = redirect(url, code=302)
    response.headers.update(PAGE_HEADERS)
    return response
