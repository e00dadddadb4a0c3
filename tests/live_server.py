"""The live server the browser tests and the API contract test send real HTTP requests to."""
import os
import threading

import pytest

from django.core.servers.basehttp import WSGIServer


class SerialWSGIServer(WSGIServer):
    """The live server, answering one request at a time. The test database is an in-memory SQLite
    whose single connection the server's threads would share; a page whose pictures the browser
    fetches at once (the compare view's two) then has two requests saving the session together
    (SESSION_SAVE_EVERY_REQUEST), and one fails with "database table is locked". LiveServerThread
    already gives its own thread the shared connection, so a serial server needs nothing more."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)


def start_live_server():
    """A started pytest-django LiveServer on SerialWSGIServer; the caller stops it."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS", "localhost"), start=False)
    server.thread.server_class = SerialWSGIServer
    server.start()
    return server


# The live server hands its threads the test's own in-memory SQLite connection (Django and
# pytest-django do this for in-memory SQLite), so two requests at once would interleave their
# transactions on one connection ("database table is locked"). Pages that send several requests at
# once get them answered one at a time, and a test thread takes the same lock when it writes.
# Browser test modules import the fixture below to switch this on.
ONE_AT_A_TIME = threading.RLock()


@pytest.fixture(autouse=True)
def server_answers_one_request_at_a_time(monkeypatch):
    from django.core.handlers.wsgi import WSGIHandler

    answer = WSGIHandler.__call__

    def serialized(self, environ, start_response):
        with ONE_AT_A_TIME:
            return answer(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", serialized)
