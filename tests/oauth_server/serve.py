"""Starts the test authorization server: migrates a fresh SQLite database, creates the users and
OAuth2 applications given in EG_OAUTH_CLIENTS, then serves on 127.0.0.1 (EG_OAUTH_PORT, 0 = any free
port) and prints "READY <port>" on stdout once it accepts connections.

EG_OAUTH_CLIENTS: JSON list of {"client_id", "client_secret", "grant": "client-credentials" |
"password"}; EG_OAUTH_USERS: JSON list of {"username", "password"}.
"""

import json
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import get_application_model  # noqa: E402


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class Handler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per request, on stderr
        sys.stderr.write("%s\n" % (format % args))


def main():
    call_command("migrate", verbosity=0, interactive=False)
    User = get_user_model()
    for u in json.loads(os.environ.get("EG_OAUTH_USERS", "[]")):
        User.objects.create_user(username=u["username"], password=u["password"])
    Application = get_application_model()
    for c in json.loads(os.environ.get("EG_OAUTH_CLIENTS", "[]")):
        Application.objects.create(
            name=c["client_id"],
            client_id=c["client_id"],
            client_secret=c["client_secret"],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=c.get("grant", "client-credentials"),
            algorithm=c.get("algorithm", ""),
        )
    httpd = make_server(
        "127.0.0.1",
        int(os.environ.get("EG_OAUTH_PORT", "0")),
        get_wsgi_application(),
        server_class=Server,
        handler_class=Handler,
    )
    print("READY %d" % httpd.server_port, flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
