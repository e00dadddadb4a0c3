"""The OpenAPI schema describes token authentication and the token endpoint without warnings."""
import json

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from accounts.authentication import ApiTokenAuthentication


def test_token_authentication_has_a_registered_schema_extension():
    extension = OpenApiAuthenticationExtension.get_match(ApiTokenAuthentication())
    assert extension is not None
    assert extension.get_security_definition(None) == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Personal API token: send "Authorization: Token <token>".',
    }


@pytest.mark.django_db
def test_accounts_api_schema_generates_and_validates_without_warnings(tmp_path):
    # Only the accounts views (and a token-protected probe), so other apps' warnings don't count here.
    GENERATOR_STATS.reset()
    out = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--urlconf", "tests.accounts_api_urls",
        "--format", "openapi-json",
        "--fail-on-warn",
        "--validate",
        "--file", str(out),
    )
    schema = json.loads(out.read_text())
    assert schema["components"]["securitySchemes"]["apiTokenAuth"]["name"] == "Authorization"

    token_op = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert token_op["operationId"] == "auth_token_create"
    assert set(token_op["responses"]) == {"200", "400", "401", "429"}  # 401: a two-factor code is needed
    # AllowAny with no authenticators: anonymous access, no security requirement but `{}`.
    assert token_op.get("security", [{}]) == [{}]
    request_schema = token_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][request_schema]["required"]) == {"username", "password"}

    whoami_op = schema["paths"]["/api/test/whoami/"]["get"]
    assert {"apiTokenAuth": []} in whoami_op["security"]
