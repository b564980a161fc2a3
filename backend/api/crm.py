"""CRM connections and deliveries. Every connection write is for account admins (api.md "Roles");
deliveries, and their retry, belong to every member."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api.common import actor, admin, page, read, run, settings, store
from backend.services import crm
from schemas import crm as s
from schemas.common import PageQuery
from schemas.extension import DeliverySchema

blp = Blueprint("crm", __name__, url_prefix="/v1/crm", description="CRM connections and the delivery outbox")


@blp.route("/connections", methods=["POST"])
@blp.arguments(s.ConnectionRequest())
@blp.response(201, s.ConnectionSchema)
def create_connection(body):
    """Connect a CRM (admin); the config is checked by the kind's adapter, credentials are never echoed"""
    caller, allow = admin(), settings().crm_allow_private_networks
    return run(
        lambda uow: crm.create_connection(uow, caller, body["kind"], body["name"], body["config"], allow)
    )


@blp.route("/connections", methods=["GET"])
@blp.arguments(PageQuery(), location="query")
@blp.response(200, s.ConnectionsResponse)
def all_connections(query):
    """The account's connections with their status and health, without secrets, oldest first"""
    return read(lambda uow: crm.all_connections(uow, actor(), page(query)))


@blp.route("/connections/<connection_id>", methods=["PATCH"])
@blp.arguments(s.ConnectionUpdate())
@blp.response(200, s.ConnectionSchema)
def update_connection(changes, connection_id):
    """Rename, change the config (merged key by key, checked as at creation), pause or resume (admin)

    Credentials the server's SECRET_KEYS no longer opens are replaced by a PATCH that gives new ones;
    any other config change answers 409 `credentials_unreadable` until then."""
    caller, allow = admin(), settings().crm_allow_private_networks
    return run(lambda uow: crm.update_connection(uow, caller, connection_id, changes, allow))


@blp.route("/connections/<connection_id>", methods=["DELETE"])
@blp.response(204)
def delete_connection(connection_id):
    """Delete a connection (admin): its pending deliveries are cancelled, never sent; nothing is refunded"""
    caller = admin()
    run(lambda uow: crm.delete_connection(uow, caller, connection_id))


@blp.route("/connections/<connection_id>/test", methods=["POST"])
@blp.response(200, s.CheckResponse)
def test_connection(connection_id):
    """The adapter's harmless authenticated call (admin); refused credentials set needs_reauth

    409 `credentials_unreadable` when the server's SECRET_KEYS no longer opens the credentials."""
    return crm.check_connection(store(), admin(), connection_id, settings())


@blp.route("/deliveries", methods=["GET"])
@blp.arguments(s.DeliveriesQuery(), location="query")
@blp.response(200, s.DeliveriesResponse)
def deliveries(query):
    """Deliveries, newest first, optionally by status"""
    return read(lambda uow: crm.deliveries(uow, actor(), query.get("status"), page(query)))


@blp.route("/deliveries/<delivery_id>", methods=["GET"])
@blp.response(200, s.DeliveryDetailSchema)
def delivery(delivery_id):
    """One delivery with every attempt (`attempts` is the list here; `attempt_count` the counted ones)"""
    return read(lambda uow: crm.get_delivery(uow, actor(), delivery_id))


@blp.route("/deliveries/<delivery_id>/retry", methods=["POST"])
@blp.response(202, DeliverySchema)
def retry(delivery_id):
    """Re-queue a failed or dead delivery; nothing is charged again"""
    return run(lambda uow: crm.retry(uow, actor(), delivery_id))
