"""CRM connections and deliveries."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from backend.services.crm import CONNECTION_STATUSES, DELIVERY_STATUSES
from schemas.common import PageQuery, page_schema
from schemas.extension import DeliverySchema


class ConnectionRequest(Schema):
    kind = fields.String(
        required=True,
        metadata={
            "description": "An installed adapter: webhook, hubspot, salesforce, pipedrive, or a plugin's"
        },
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    config = fields.Dict(
        load_default=dict,
        metadata={
            "description": "Adapter settings; every kind accepts base_url. Credentials are never echoed back."
        },
    )


class ConnectionUpdate(Schema):
    """PATCH: every field optional; unknown fields are a 422."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    config = fields.Dict(
        metadata={
            "description": "Merged key by key into the stored config (null: back to the default) and "
            "checked by the kind's adapter as at creation; a new credential takes effect for the next "
            "attempt and resumes a connection that needs re-authorization"
        }
    )
    paused = fields.Boolean(
        metadata={
            "description": "true: paused (its deliveries wait); false: a paused connection is active again"
        }
    )


class ConnectionSchema(Schema):
    id = fields.String()
    kind = fields.String()
    name = fields.String()
    config = fields.Dict(metadata={"description": "Without credentials"})
    status = fields.String(
        validate=validate.OneOf(CONNECTION_STATUSES),
        metadata={
            "description": "active; paused (by its owner, or by a receiver that answered 410 Gone); "
            "needs_reauth (its credentials were refused); rate_limited (until paused_until). The "
            "deliveries of a connection that is not active stay pending, and flow again without a "
            "retry when it is active"
        },
    )
    paused_until = fields.DateTime(allow_none=True, metadata={"description": "rate_limited: until when"})
    status_reason = fields.String(allow_none=True, metadata={"description": "why it is not active"})
    last_success_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    secret = fields.String(
        metadata={
            "description": "webhook created without config.secret: the generated "
            "whsec_ secret, answered this once"
        }
    )


ConnectionsResponse = page_schema(
    "ConnectionsPage", "connections", ConnectionSchema, "oldest first (by created_at, then id)"
)


class DeliveriesQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


DeliveriesResponse = page_schema(
    "DeliveriesPage",
    "deliveries",
    DeliverySchema,
    "newest first (by created_at, then id); a delivery whose status changes while a status-filtered "
    "listing is paged may leave or join it",
)


def _return_to():
    return fields.String(
        validate=validate.Length(min=1, max=2000),
        metadata={
            "description": "Where the browser goes after the callback (an origin in CORS_ORIGINS or "
            "PUBLIC_URL, with ?connection_id=…); without it the callback shows a short page"
        },
    )


class OAuthStartRequest(Schema):
    kind = fields.String(
        required=True,
        validate=validate.OneOf(("hubspot", "salesforce", "pipedrive")),
        metadata={"description": "The CRM to connect through its OAuth 2 consent page"},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    return_to = _return_to()


class ReauthorizeRequest(Schema):
    return_to = _return_to()


class OAuthStartResponse(Schema):
    authorize_url = fields.String(
        metadata={"description": "The vendor's consent page: client id, redirect URI, scopes, state, PKCE"}
    )
    state = fields.String(metadata={"description": "Single use, bound to this account and user, 10 minutes"})


class OAuthCallbackQuery(Schema):
    code = fields.String()
    state = fields.String()
    error = fields.String(metadata={"description": "The vendor's refusal, e.g. access_denied"})
    error_description = fields.String()

    class Meta:
        unknown = EXCLUDE


class CheckResponse(Schema):
    ok = fields.Boolean(required=True)
    detail = fields.String(
        required=True, metadata={"description": "what the CRM answered, without credentials"}
    )


class AttemptSchema(Schema):
    at = fields.DateTime()
    status_code = fields.Integer(
        allow_none=True, metadata={"description": "the CRM's HTTP status, if it answered"}
    )
    error = fields.String(allow_none=True)
    counted = fields.Boolean(
        metadata={
            "description": "false for a wait that is not an attempt: a rate limit, refused credentials, "
            "a receiver that is gone"
        }
    )


class DeliveryDetailSchema(DeliverySchema):
    """One delivery: here `attempts` is the list of every attempt, oldest first, and `attempt_count`
    the number of counted attempts (what a listing calls `attempts`)."""

    attempts = fields.List(
        fields.Nested(AttemptSchema), metadata={"description": "every attempt, oldest first"}
    )
    attempt_count = fields.Integer(metadata={"description": "counted attempts (a listing's `attempts`)"})
