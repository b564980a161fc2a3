"""CRM connections and deliveries."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, page, read, run, settings
from backend.services import crm
from schemas import crm as s
from schemas.common import PageQuery
from schemas.extension import DeliverySchema

blp = Blueprint("crm", __name__, url_prefix="/v1/crm", description="CRM connections and the delivery outbox")


@blp.route("/connections", methods=["POST"])
@blp.arguments(s.ConnectionRequest())
@blp.response(201, s.ConnectionSchema)
def create_connection(body):
    """Connect a CRM; the config is checked by the kind's adapter, credentials are never echoed"""
    allow = settings().crm_allow_private_networks
    return run(
        lambda uow: crm.create_connection(uow, actor(), body["kind"], body["name"], body["config"], allow)
    )


@blp.route("/connections", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.ConnectionsResponse)
def all_connections(query):
    """The account's connections with their health, without secrets, oldest first"""
    return read(lambda uow: crm.all_connections(uow, actor(), page(query)))


@blp.route("/deliveries", methods=["GET"])
@blp.arguments(s.DeliveriesQuery(), location="query")
@blp.response(200, s.DeliveriesResponse)
def deliveries(query):
    """Deliveries, newest first, optionally by status"""
    return read(lambda uow: crm.deliveries(uow, actor(), query.get("status"), page(query)))


@blp.route("/deliveries/<delivery_id>/retry", methods=["POST"])
@blp.response(202, DeliverySchema)
def retry(delivery_id):
    """Re-queue a failed or dead delivery; nothing is charged again"""
    return run(lambda uow: crm.retry(uow, actor(), delivery_id))
