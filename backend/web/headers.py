"""The security headers every page carries (api.md "Pages for people"). The usage page holds an API
key, so the policy lets only this server's own files run, style and connect: no inline script, no
other host. Swagger UI's stylesheet draws its icons from `data:` images, hence `img-src data:`."""

from __future__ import annotations

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def protect(response):
    """after_app_request: no answer is sniffed into another type, and every HTML answer (the pages,
    /docs) gets the policy, whichever blueprint rendered it; a page that set a stricter one itself
    (the OAuth callback's, which runs no script at all) keeps it."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response
