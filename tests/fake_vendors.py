"""HubSpot, Salesforce and Pipedrive as far as OAuth and a lead push go, on 127.0.0.1 (a random port),
shaped after the vendors' documented answers (adapters/crm/oauth.py cites them).

Per vendor, under /<kind>: the token endpoint (authorization_code with PKCE checked where the vendor
supports it, refresh_token, client authentication as the vendor takes it: Pipedrive HTTP Basic, the
others in the form), access tokens that expire on the injected clock, refresh tokens that rotate
where `rotates[kind]` says (a spent or revoked one answers 400 invalid_grant), and the API calls the
adapters make for a push: HubSpot batch upsert, Salesforce sobjects/Lead POST and SOQL query,
Pipedrive persons search and create, each answering 401 in the vendor's shape for an expired or
unknown token. Every call is recorded in `calls`.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import itertools
import json
import re
import secrets
import threading
import time
from urllib.parse import parse_qs, urlsplit

CLIENTS = {
    kind: (f"{kind}-client-id", f"{kind}-client-secret") for kind in ("hubspot", "salesforce", "pipedrive")
}
TOKEN_PATHS = {
    "hubspot": "/oauth/v3/token",
    "salesforce": "/services/oauth2/token",
    "pipedrive": "/oauth/token",
}
UNAUTHORIZED = {
    "hubspot": {
        "status": "error",
        "message": "Authentication credentials not found or expired.",
        "category": "EXPIRED_AUTHENTICATION",
    },
    "salesforce": [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    "pipedrive": {"success": False, "error": "unauthorized access", "errorCode": 401},
}


class FakeVendors:
    def __init__(self, clock=time.time):
        self.clock = clock
        self.lifetimes = {"hubspot": 1800.0, "salesforce": 7200.0, "pipedrive": 3599.0}
        self.rotates = {"hubspot": False, "salesforce": False, "pipedrive": True}
        self.api_hosts: dict[str, str] = {}  # kind -> the instance_url / api_domain to answer
        self.token_answers: dict[str, dict] = {}  # kind -> a token answer to send instead of tokens
        self.refresh_delay = 0.0  # seconds a refresh answer takes (widens a race window)
        self.calls: list[dict] = []
        self.codes: dict[str, dict] = {}
        self.access: dict[str, tuple[str, float]] = {}  # token -> (kind, expires_at)
        self.refresh_tokens: dict[str, dict] = {}  # token -> {"kind", "live", "uses"}
        self.ids = itertools.count(1001)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer._handle(self)

            def do_POST(self):
                outer._handle(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # what a test does

    def base(self, kind: str) -> str:
        return f"{self.url}/{kind}"

    def consent(self, kind: str, redirect_uri: str, code_challenge: str | None) -> str:
        """The user clicked Allow: the code the vendor would put in the redirect."""
        code = "code-" + secrets.token_urlsafe(12)
        self.codes[code] = {"kind": kind, "redirect_uri": redirect_uri, "challenge": code_challenge}
        return code

    def revoke(self, kind: str) -> None:
        """The user uninstalled the app: every refresh token of `kind` stops working."""
        for token in self.refresh_tokens.values():
            if token["kind"] == kind:
                token["live"] = False

    def grants(self, kind: str, grant: str) -> list[dict]:
        return [c for c in self.calls if c["kind"] == kind and c.get("grant") == grant]

    def api_calls(self, kind: str, status: int | None = None) -> list[dict]:
        return [
            c for c in self.calls if c["kind"] == kind and "grant" not in c and status in (None, c["status"])
        ]

    # the server

    def _handle(self, request) -> None:
        parts = urlsplit(request.path)
        kind, _, path = parts.path.lstrip("/").partition("/")
        path = "/" + path
        body = request.rfile.read(int(request.headers.get("content-length") or 0))
        call = {"kind": kind, "method": request.command, "path": path}
        if request.command == "POST" and path == TOKEN_PATHS.get(kind):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            call["grant"] = form.get("grant_type")
            status, answer = self._token(kind, form, request.headers.get("Authorization", ""))
        else:
            status, answer = self._api(kind, request.command, path, parts.query, body, request.headers)
        call["status"] = status
        with self.lock:
            self.calls.append(call)
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _token(self, kind: str, form: dict, authorization: str) -> tuple[int, dict]:
        client_id, client_secret = _client(kind, form, authorization)
        if (client_id, client_secret) != CLIENTS.get(kind):
            return 401, {"error": "invalid_client", "error_description": "client authentication failed"}
        with self.lock:
            if form.get("grant_type") == "authorization_code":
                refused = self._spend_code(kind, form)
                kept = None
            elif form.get("grant_type") == "refresh_token":
                refused, kept = self._spend_refresh_token(kind, form.get("refresh_token")), None
                if not refused and not self.rotates[kind]:
                    kept = form["refresh_token"]
            else:
                return 400, {"error": "unsupported_grant_type"}
            if refused:
                return 400, {"error": "invalid_grant", "error_description": refused}
            answer = self.token_answers.get(kind) or self._issue(kind, form["grant_type"], kept)
        if form["grant_type"] == "refresh_token" and self.refresh_delay:
            time.sleep(self.refresh_delay)
        return 200, answer

    def _spend_code(self, kind: str, form: dict) -> str | None:
        code = self.codes.pop(form.get("code") or "", None)
        if code is None or code["kind"] != kind:
            return "authorization code is invalid, expired or already used"
        if code["redirect_uri"] != form.get("redirect_uri"):
            return "redirect_uri mismatch"
        if code["challenge"] and _challenge(form.get("code_verifier") or "") != code["challenge"]:
            return "invalid code verifier"
        return None

    def _spend_refresh_token(self, kind: str, token: str | None) -> str | None:
        entry = self.refresh_tokens.get(token or "")
        if entry is None or entry["kind"] != kind:
            return "refresh token is invalid, expired or revoked"
        entry["uses"] += 1
        if not entry["live"]:
            return "refresh token is invalid, expired or revoked"
        if self.rotates[kind]:
            entry["live"] = False  # spent: its successor is the only one that works now
        return None

    def _issue(self, kind: str, grant: str, kept_refresh_token: str | None) -> dict:
        access = f"{kind}-at-" + secrets.token_urlsafe(16)
        self.access[access] = (kind, self.clock() + self.lifetimes[kind])
        answer = {"access_token": access, "token_type": "bearer"}
        if kept_refresh_token is None:
            refresh = f"{kind}-rt-" + secrets.token_urlsafe(16)
            self.refresh_tokens[refresh] = {"kind": kind, "live": True, "uses": 0}
            answer["refresh_token"] = refresh
        elif kind != "salesforce":  # Salesforce without rotation answers no refresh_token at all
            answer["refresh_token"] = kept_refresh_token
        if kind == "salesforce":  # no expires_in: the org's session timeout decides
            answer.update(
                instance_url=self.api_hosts.get(kind, self.base(kind)),
                id=f"{self.base(kind)}/id/00D000000000001/005000000000001",
                issued_at=str(int(self.clock() * 1000)),
                signature=base64.b64encode(secrets.token_bytes(32)).decode(),
                scope="api refresh_token",
            )
        else:
            answer["expires_in"] = int(self.lifetimes[kind])
        if kind == "pipedrive":
            answer.update(scope="base,contacts:full", api_domain=self.api_hosts.get(kind, self.base(kind)))
        return answer

    def _api(self, kind, method, path, query, body, headers) -> tuple[int, object]:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        known = self.access.get(token) if scheme.lower() == "bearer" else None
        if known is None or known[0] != kind or self.clock() >= known[1]:
            return 401, UNAUTHORIZED.get(kind, {"error": "unknown vendor"})
        payload = json.loads(body) if body else None
        route = (kind, method, re.sub(r"/services/data/v\d+\.\d", "/services/data/vXX", path))
        if route == ("hubspot", "POST", "/crm/v3/objects/contacts/batch/upsert"):
            results = [
                {
                    "id": str(next(self.ids)),
                    "objectWriteTraceId": item.get("objectWriteTraceId"),
                    "properties": {"email": item["id"]},
                }
                for item in payload["inputs"]
            ]
            return 200, {"status": "COMPLETE", "results": results}
        if route == ("salesforce", "POST", "/services/data/vXX/sobjects/Lead"):
            return 201, {"id": f"00Q{next(self.ids):012d}", "success": True, "errors": []}
        if route == ("salesforce", "GET", "/services/data/vXX/query"):
            return 200, {"totalSize": 0, "done": True, "records": []}
        if route == ("pipedrive", "GET", "/api/v1/persons/search"):
            return 200, {"success": True, "data": {"items": []}}
        if route == ("pipedrive", "POST", "/api/v1/persons"):
            return 201, {"success": True, "data": {"id": next(self.ids), "name": payload.get("name")}}
        return 404, {"error": f"no route {method} {path}"}


def _client(kind: str, form: dict, authorization: str) -> tuple[str | None, str | None]:
    if kind == "pipedrive":  # HTTP Basic only
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None, None
        client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
