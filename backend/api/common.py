"""What every blueprint needs: the store, the caller, and the configured settings."""

from __future__ import annotations

from flask import current_app, g, request
from marshmallow import ValidationError

from backend.config import Settings
from backend.domain.errors import Forbidden, InvalidInput
from backend.services.charge_guard import Actor
from backend.services.pages import PageRequest


def store():
    return current_app.extensions["store"]


def run(fn):
    """Run a use case in one unit of work (retried on transient DB errors)."""
    return current_app.extensions["store"].run(fn)


def read(fn):
    """Run a read-only use case: on SQLite it neither takes nor waits for the write lock."""
    return current_app.extensions["store"].run(fn, write=False)


def actor() -> Actor:
    return g.actor


def admin() -> Actor:
    """The caller of an account-admin route (api.md "Roles"): a member is refused with 403 `forbidden`."""
    caller = g.actor
    if caller.role != "admin":
        raise Forbidden("only an account admin may do this; ask one of your account's admins")
    return caller


def page(query: dict) -> PageRequest:
    """The page a listing's query (schemas.common.PageQuery) asks for."""
    return PageRequest(query["limit"], query.get("cursor"))


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def multipart(form_schema, file_field: str = "file") -> tuple[dict, object]:
    """The form fields (validated by their schema) and the uploaded file of a multipart request; a
    missing file or a bad field is a 422 naming it, before anything is read. A field sent empty is a
    field not given, as HTML forms and FormData send an unset option (`list_id=`)."""
    try:
        # a part whose name werkzeug could not read (name="\") has the name None: named "" here
        form = form_schema().load({name or "": value for name, value in request.form.items() if value != ""})
    except ValidationError as exc:
        raise InvalidInput("the form has invalid fields", fields=exc.messages) from exc
    upload = request.files.get(file_field)
    if upload is None:
        raise InvalidInput(
            f"send the CSV as the multipart/form-data field {file_field!r}",
            fields={file_field: ["missing file"]},
        )
    return form, rewound(upload.stream)


def rewound(stream):
    """An uploaded file from its start: a retried transaction reads it again."""
    stream.seek(0)
    return stream
