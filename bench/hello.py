"""A WSGI hello-world for gunicorn: the HTTP ceiling of this machine with no app and no database.

    gunicorn --workers 2 --threads 4 --worker-class gthread bench.hello:app
"""

BODY = b'{"ok":true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    environ["wsgi.input"].read()  # drain the request body, as a real view would
    start_response("201 CREATED", HEADERS)
    return [BODY]
