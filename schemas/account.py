"""The account's own settings: balance levels that alert (R25)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.common import CreditAmount

_LEVELS = {"validate": validate.Length(max=10), "metadata": {"description": "balance levels, in credits"}}


class AlertLevels(Schema):
    email = fields.List(CreditAmount(), **_LEVELS)
    phone = fields.List(CreditAmount(), **_LEVELS)
    tracking = fields.List(CreditAmount(), **_LEVELS)


class AlertLevelsRequest(AlertLevels):
    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(
                "give email, phone and/or tracking: a list of balance levels, e.g. [100, 10]"
            )
