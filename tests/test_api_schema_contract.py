"""The OpenAPI schema is the contract: schemathesis generates requests from /api/schema/ (valid
ones, and invalid ones the API must refuse) and sends them over HTTP to the live test server as a
user with an API token, an image and a share; every check is on, and any answer the schema does
not describe (an undocumented status, content type or body, a valid request refused, an invalid
one accepted, a 5xx) fails the test. One test per operation, a bounded number of examples each.

Path ids are the user's own record and share most of the time (a schemathesis dictionary), so the
downloads, shares and lifecycle actions answer for real rather than 404.
"""
import os

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import image_bytes, make_photo
from tests.live_server import start_live_server

schemathesis = pytest.importorskip(
    "schemathesis", reason="API contract test skipped: schemathesis is not installed (make test installs requirements-test.txt)."
)
from hypothesis import HealthCheck  # noqa: E402  (a dependency of schemathesis)
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

# reset_sequences: the user's image is record 1 in every test, so the ids the generated requests
# use (below) can be named before the test makes it.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

PASSWORD = "a-Long-enough-passw0rd"
MAX_EXAMPLES = 10
WORKFLOWS = 8
RECORD_ID, SHARE_ID = 1, "contract-share-0001"
VALID_OR_400 = ["2xx", "400", "401", "403", "404", "409", "429"]


def openapi_schema() -> dict:
    """The schema /api/schema/ serves, made here at collection (schemathesis' pytest fixture
    loader does not run on this pytest)."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


CONFIG = SchemathesisConfig.from_dict({
    # The same requests every run, so a failure reproduces; SCHEMATHESIS_SEED explores others.
    "seed": int(os.environ.get("SCHEMATHESIS_SEED", "27")),
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "checks": {"enabled": True},
    "dictionaries": {"records": {"values": [RECORD_ID]}, "shares": {"values": [SHARE_ID]}},
    "parameters": {
        "path.id": {"dictionary": "records", "probability": 0.8},
        "path.share_id": {"dictionary": "shares", "probability": 0.8},
    },
    # Where a schema-valid request may still be a 400, for what no schema can say: a wrong username
    # or password (as DRF's token view answers), a file that is not a readable image, a quality
    # outside the chosen codec's own range (GET /api/v1/codecs/ lists them).
    "operations": [
        *({"include-path": path, "include-method": "POST", "checks": {"positive_data_acceptance": {"expected-statuses": VALID_OR_400}}}
          for path in ("/api/v1/auth/token/", "/api/v1/images/", "/api/v1/images/{id}/recompress/")),
        # DELETE /api/v1/images/{id}/ moves the image to the trash, where it stays readable (with
        # trashed_at) and restorable, as documented; use-after-free assumes a DELETE destroys. The
        # permanent delete's 404s are tests/test_api_images.py's.
        {"include-path-regex": r"^/api/v1/images/\{id\}/", "include-method": "GET", "checks": {"use_after_free": {"enabled": False}}},
    ],
})
schema = schemathesis.openapi.from_dict(openapi_schema(), config=CONFIG)


@pytest.fixture(autouse=True)
def _without_shipped_learned_codec():
    """The schema above lists the codecs registered at collection, the shipped learned one among
    them, so the server keeps it (conftest.py takes it away elsewhere); uploads only queue here,
    so it never runs."""
    yield


@pytest.fixture(scope="module")
def live_server(django_db_setup):
    server = start_live_server()
    yield server
    server.stop()


@pytest.fixture
def api_token(settings, live_server):
    """A user with an unlocked vault, one compressed image (record 1) shared once (SHARE_ID), and a
    token made with the vault key; uploads then stay queued (no worker), so a generated upload
    costs no compression."""
    from django.core.cache import cache

    from accounts.services import create_api_token
    from tests.vault_helpers import workers_away
    from vault import keyring, services
    from vault.models import Share

    cache.clear()  # throttle counts from earlier tests
    rates = {"uploads": "100000/min", "retrievals": "100000/min", "status": "100000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    settings.THROTTLE_TOKEN_CREATE = settings.THROTTLE_LOGIN = "100000/m"
    user = get_user_model().objects.create_user("contract", password=PASSWORD)
    master_key, _ = keyring.create_vault(user=user, password=PASSWORD)
    record, _ = services.store_image(
        owner=user, master_key=master_key, uploaded_file_or_bytes=image_bytes(make_photo(64, 48)),
        filename="garden.png", codec="webp", quality=80,
    )
    assert record.pk == RECORD_ID
    share, _ = services.create_share(record=record, master_key=master_key)
    Share.objects.filter(pk=share.pk).update(public_id=SHARE_ID)
    _, token = create_api_token(user=user, name="contract", master_key=master_key)
    with workers_away():
        yield token


# One user and image per operation, shared by its examples on purpose: what one example changes (a
# record moved to the trash, a share revoked) is state the next must be answered correctly in.
@schema.parametrize()
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
def test_the_api_answers_as_its_schema_says(case, live_server, api_token):
    case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Token {api_token}"})


def test_api_workflows_keep_to_the_schema(live_server, api_token):
    """Sequences the schema's links allow (upload, then its status, its shares, a download, its
    deletion, ...), each answer checked as above: what one call returns, the next may use."""

    class Workflow(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"base_url": live_server.url, "headers": {"Authorization": f"Token {api_token}"}}

    Workflow.run(settings=hypothesis_settings(
        max_examples=WORKFLOWS, stateful_step_count=6, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    ))
