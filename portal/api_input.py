"""Request input read as the OpenAPI schema describes it, so that the schema is the contract.

DRF is lenient where the schema is not: in JSON it takes `"5"` for an integer, `5` for a string
and `false` for a number; in form and query encodings it takes `yes`, `on` or `t` for a boolean
and an empty value as if the field were left out, and a field sent twice as its last value. A client generated from the schema never sends
those, and a server that accepts them lets typos pass as defaults (`ids=` exporting the whole
vault). `StrictInputSerializer` refuses them before DRF's own field parsing, and reads the one
spelling of null a form or query can carry, `null` (or an empty value) for a nullable field.
"""
import json
from collections.abc import Mapping

from django.http import QueryDict
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

_KINDS = (
    (serializers.BooleanField, "boolean", "a boolean (true or false, or 1 or 0)"),
    (serializers.IntegerField, "integer", "an integer"),
    ((serializers.FloatField, serializers.DecimalField), "number", "a number"),
    ((serializers.CharField, serializers.ChoiceField), "string", "text"),
)
_TEXT_BOOLEANS = {"true", "false", "1", "0"}


@extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]})
class FlagField(serializers.BooleanField):
    """A boolean that clients also send as 1 or 0 (`?permanent=1`), and the schema says so: any
    other spelling DRF would take (yes, on, t) is refused."""


def _kind(field) -> tuple[str, str] | None:
    for classes, kind, words in _KINDS:
        if isinstance(field, classes):
            return kind, words
    return None


def _json_type_ok(kind: str, value) -> bool:
    if kind == "boolean":
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def _text_ok(kind: str, value: str) -> bool:
    if kind == "boolean":
        return value in _TEXT_BOOLEANS
    if kind == "integer":
        return value.lstrip("-").isdigit() and value.isascii()
    return True  # numbers and text: DRF's own parsing says what is wrong


def _shallow_copy(data: QueryDict) -> QueryDict:
    # QueryDict.copy() deep-copies, uploaded files included.
    copy = QueryDict(mutable=True)
    for key in data:
        copy.setlist(key, data.getlist(key))
    return copy


def _quoted(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class StrictInputSerializer(serializers.Serializer):
    """A request body or query serializer that accepts exactly what its schema documents."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's own "expected an object"
        text = isinstance(data, QueryDict)
        if text:
            data = _shallow_copy(data)
        errors = {}
        for name, field in self.fields.items():
            if field.read_only or name not in data:
                continue
            kind = _kind(field)
            if kind is None:
                continue
            value = data.get(name)
            error = self._text_error(field, kind, value, data, name) if text else self._json_error(field, kind, value)
            if error:
                errors[name] = [error]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    @staticmethod
    def _json_error(field, kind, value) -> str | None:
        if value is None or _json_type_ok(kind[0], value):
            return None  # null: DRF answers for fields that do not allow it
        return f"Expected {kind[1]}, got {_quoted(value)}."

    @staticmethod
    def _text_error(field, kind, value, data, name) -> str | None:
        if len(data.getlist(name)) > 1:
            return f"Sent {len(data.getlist(name))} times; send it once."
        if not isinstance(value, str):
            return None  # an uploaded file
        if field.allow_null and value in ("", "null"):
            data[name] = None
            return None
        if value == "" and not getattr(field, "allow_blank", False):
            return f"Expected {kind[1]}, got an empty value; leave the parameter out for its default."
        if not _text_ok(kind[0], value):
            return f"Expected {kind[1]}, got {_quoted(value)}."
        return None
