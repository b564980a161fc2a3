"""OAuth 2 connect, its callback, and re-authorize (api.md "OAuth 2 connect")."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import admin, run, settings, store
from backend.services import crm_oauth
from backend.web.oauth_callback import back_to, connected_page
from schemas import crm as s

blp = Blueprint(
    "crm_oauth",
    __name__,
    url_prefix="/v1/crm",
    description="Connecting a CRM through its OAuth 2 consent page",
)


@blp.route("/oauth/start", methods=["POST"])
@blp.arguments(s.OAuthStartRequest())
@blp.response(200, s.OAuthStartResponse)
def start(body):
    """Start connecting a CRM (admin): open `authorize_url` in the browser to consent"""
    caller = admin()
    return run(
        lambda uow: crm_oauth.start(
            uow, caller, settings(), body["kind"], body["name"], body.get("return_to")
        )
    )


@blp.route("/connections/<connection_id>/reauthorize", methods=["POST"])
@blp.arguments(s.ReauthorizeRequest())
@blp.response(200, s.OAuthStartResponse)
def reauthorize(body, connection_id):
    """Consent again for a connection whose credentials were refused (admin): same id, same deliveries"""
    caller = admin()
    return run(
        lambda uow: crm_oauth.reauthorize(uow, caller, settings(), connection_id, body.get("return_to"))
    )


@blp.route("/oauth/callback", methods=["GET"])
@blp.arguments(s.OAuthCallbackQuery(), location="query")
@blp.doc(
    security=[],
    responses={
        "200": {"description": "A short page: connected"},
        "302": {"description": "Back to return_to, with connection_id"},
        "400": {"description": "A bad, used or expired state, or the vendor's error= (problem+json)"},
        "502": {"description": "The vendor's token answer is unusable (problem+json); nothing connected"},
    },
)
def callback(query):
    """Where the CRM sends the browser back (no token: the state is the proof); 400 for a bad state"""
    connected = crm_oauth.callback(store(), settings(), query)
    url = connected.redirect_url()
    if url:
        return back_to(url)
    service = crm_oauth.oauth.VENDORS[connected.kind].service
    return connected_page(service, connected.name, connected.renewed)
