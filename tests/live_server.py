"""The live server the browser tests and the API contract test send real HTTP requests to."""
import os

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
