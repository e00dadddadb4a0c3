"""drf-spectacular needs to be told how ApiTokenAuthentication appears in the OpenAPI schema;
without this extension every endpoint using it produces a generation warning."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiTokenAuth"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
        scheme["description"] = 'Personal API token: send "Authorization: Token <token>".'
        return scheme
