"""An oversized request answers 413 under the development server (`make run`) as under gunicorn:
the response carries no hop-by-hop header, which a WSGI server refuses from an application."""
import socket
import threading
from io import BytesIO
from wsgiref.util import is_hop_by_hop

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.test import RequestFactory

pytestmark = pytest.mark.django_db  # the handler closes stale connections when a request starts
SIZE = 200 * 1024 * 1024


def test_the_413_response_has_no_hop_by_hop_header(settings):
    settings.REQUEST_MAX_BYTES = 1024 * 1024
    environ = RequestFactory()._base_environ(
        PATH_INFO="/api/v1/images/", REQUEST_METHOD="POST", CONTENT_TYPE="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(SIZE), **{"wsgi.input": BytesIO(b"")},
    )
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured.update(status=status, headers=headers)

    b"".join(WSGIHandler()(environ, start_response))
    assert captured["status"].startswith("413")
    assert [name for name, _ in captured["headers"] if is_hop_by_hop(name)] == []


@pytest.fixture
def runserver():
    """Django's development server (what `manage.py runserver` runs) on a free local port."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path, accept", [("/api/v1/images/", "application/json"), ("/upload/", "text/html")])
def test_a_200_mb_request_gets_413_from_the_development_server(runserver, path, accept):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {SIZE}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", runserver), timeout=30) as sock:
        sock.sendall(head.encode() + b"--x\r\n")  # the body starts; the rest never comes
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line.split()[1] == "413", answer[:2000]
