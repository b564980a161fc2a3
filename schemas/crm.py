"""CRM connections and deliveries."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.services.crm import DELIVERY_STATUSES
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


class ConnectionSchema(Schema):
    id = fields.String()
    kind = fields.String()
    name = fields.String()
    config = fields.Dict(metadata={"description": "Without credentials"})
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
