"""Our own error pages for people, and JSON with a `detail` for every error under /api/."""
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from portal import errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="a-Long-enough-passw0rd")


def test_an_unknown_page_is_our_404_page_without_the_url_patterns():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and "Go to the home page" in html
    assert "vault:" not in html and "urlpatterns" not in html.lower() and "api/v1/" not in html


def test_an_unknown_api_url_is_json_404():
    response = Client().get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "nothing at this address" in response.json()["detail"]


def test_an_unexpected_api_exception_is_json_500_without_internals(alice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /srv/portal")

    monkeypatch.setattr("compression.api.views.available_codecs", broken)
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/api/v1/codecs/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert "went wrong" in body["detail"] and "secret" not in response.content.decode()


def test_an_unexpected_page_exception_is_our_500_page(alice, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /srv/portal")

    monkeypatch.setattr("compression.evaluation.views.render", broken, raising=False)
    response = Client(raise_request_exception=False).get("/benchmarks/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and "secret" not in html
    assert "<html" in html  # the site's own layout, not Django's bare text


def test_a_post_without_csrf_token_gets_our_403_page_explaining_what_to_do(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "alice", "password": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Forbidden" in html and "Reload the page" in html


@pytest.mark.parametrize("status, handler", [
    (400, errors.bad_request), (403, errors.permission_denied), (404, errors.page_not_found),
])
def test_each_handler_answers_a_page_and_json_under_api(status, handler):
    factory = RequestFactory()
    page = handler(factory.get("/images/1/"), Exception("internal"))
    assert page.status_code == status and b"Error %d" % status in page.content and b"internal" not in page.content
    api = handler(factory.get("/api/v1/images/1/"), Exception("internal"))
    assert api.status_code == status and api["Content-Type"] == "application/json"
    assert api.content.startswith(b'{"detail": ') and b"internal" not in api.content


def test_too_many_requests_says_when_to_retry():
    factory = RequestFactory()
    page = errors.too_many_requests(factory.get("/images/"), retry_after=90)
    assert page.status_code == 429 and page["Retry-After"] == "90" and b"Too many requests" in page.content
    api = errors.too_many_requests(factory.get("/api/v1/images/"), retry_after=90)
    assert api.status_code == 429 and api["Retry-After"] == "90" and "Wait a few minutes" in json.loads(api.content)["detail"]


def test_favicon_is_linked_and_the_ico_path_redirects_to_it():
    html = Client().get("/").content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
