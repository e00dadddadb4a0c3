"""The schema's promises that tests/test_api_schema_contract.py relies on but cannot see itself:
the download media types cover every format and codec, and request input is read as the schema
types it (portal/api_input.py)."""
import pytest
from django.http import QueryDict
from rest_framework import serializers

from portal.api_input import FlagField, StrictInputSerializer


class Options(StrictInputSerializer):
    flag = FlagField(required=False, default=False)
    count = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(required=False)
    note = serializers.CharField(required=False, allow_blank=True)


def errors_of(data):
    serializer = Options(data=data)
    return None if serializer.is_valid() else serializer.errors


def test_json_values_must_have_the_documented_type_and_the_refusal_quotes_them():
    assert errors_of({"flag": True, "count": 3, "name": "a"}) is None
    assert errors_of({"count": None, "flag": 1}) is None
    refused = errors_of({"flag": "true", "count": False, "name": 5})
    assert refused["flag"] == ["Expected a boolean (true or false, or 1 or 0), got 'true'."]
    assert "2" in errors_of({"flag": 2})["flag"][0]
    assert "false" in refused["count"][0] and "5" in refused["name"][0]


def test_form_and_query_values_take_the_schema_spellings_only():
    ok = Options(data=QueryDict("flag=true&count=null&note="))
    assert ok.is_valid(), ok.errors
    assert ok.validated_data == {"flag": True, "count": None, "note": ""}
    assert Options(data=QueryDict("flag=0")).is_valid()
    refused = errors_of(QueryDict("flag=yes&count=1.5&name="))
    assert set(refused) == {"flag", "count", "name"}
    assert "'yes'" in refused["flag"][0] and "empty" in refused["name"][0]
    assert "2 times" in errors_of(QueryDict("count=1&count=2"))["count"][0]


def test_the_download_media_types_cover_every_upload_format_and_codec():
    from compression.imageio import ALLOWED_FORMATS, media_type_of
    from compression.registry import available_codecs
    from vault.api.views.common import IMAGE_MEDIA_TYPES

    from PIL import Image

    Image.init()
    documented = set(IMAGE_MEDIA_TYPES)
    assert {media_type_of(fmt, b"") for fmt in ALLOWED_FORMATS} <= documented
    assert "image/heic" in documented  # media_type_of's HEVC-coded HEIF
    assert {codec.media_type for codec in available_codecs()} <= documented


@pytest.mark.django_db
def test_lists_outside_the_paginated_list_are_documented_as_arrays(client):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]

    def ok_schema(path, method="get"):
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok_schema("/api/v1/images/status/")["type"] == "array"
    assert ok_schema("/api/v1/images/{id}/shares/")["type"] == "array"
    assert ok_schema("/api/v1/images/")["$ref"].endswith("PaginatedImageRecordList")
    assert "404" in paths["/api/v1/images/"]["get"]["responses"]  # a page past the last
    assert "404" in paths["/api/v1/codecs/{name}/"]["get"]["responses"]
    download = paths["/api/v1/images/{id}/download/"]["get"]["responses"]["200"]["content"]
    assert {"image/jpeg", "image/webp", "image/jxl"} <= set(download)
