"""Webhooks cannot reach inside the hub's network: not by a URL read two ways, an address in disguise, DNS rebinding or a redirect.

Names are answered by a stand-in for `socket.getaddrinfo` (the one resolver
both the hub and urllib3 call), so a test decides what a name resolves to,
and how often, without a DNS server; every connection it allows goes to a
real server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from network.events import destination, sending
from network.models import Delivery, Webhook
from tests.support import webhooks as hooks
from tests.support.ledger import snapshot
from tests.support.webhooks import attempts, deliver, register

receiver = hooks.receiver  # the fixture: real HTTP servers on 127.0.0.1

PUBLIC = "93.184.215.14"  # a public address (example.com's once): never connected to, the stand-in refuses it
NAME = "hooks.brew-bar.example"


class Resolver:
    """`socket.getaddrinfo` for `NAME` from a script of answers (the last one repeats); every other host as the system's."""

    def __init__(self, monkeypatch, *answers: list[str]):
        self.answers = list(answers)
        self.asked: list[str] = []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            self.asked.append(host)
            if host == PUBLIC:
                raise ConnectionRefusedError(f"the test's stand-in for {PUBLIC} refuses")
            if host != NAME:
                return real(host, port, *args, **kwargs)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port or 0, 0, 0) if ":" in a else (a, port or 0)) for a in answer]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def private_networks(app, allowed: bool):
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = allowed


# ---------------------------------------------------------------- registration


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5432\\@evil.example/x",  # urlsplit: host evil.example; urllib3: host 127.0.0.1
    "http://127.0.0.1:5432\\@evil.example",
    "http://user:password@hooks.example/x",
    "http://evil.example@127.0.0.1/x",
    "http://hooks.example\t/x",
    "http://hooks.example /x",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/",  # hex and short
    "http://0177.0.0.1/",  # octal
    "http://127.1/",
    "http://0x7f000001:8080/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:a9fe:a9fe]/latest/meta-data/",  # 169.254.169.254, IPv4-mapped
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[fe80::1%25eth0]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/hook",
    "http://192.168.1.1/",
    "http://100.100.100.200/",  # shared address space: cloud metadata on some providers
    "http://0.0.0.0:8000/",
    "http://0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "file:///etc/passwd",
    "gopher://hooks.example/x",
    "http://[::1/",
    "http://hooks.example:99999/",
    "https://hooks.bücher.example/x",
])
def test_a_url_read_two_ways_or_an_internal_address_is_refused_at_registration(world, app, database, url):
    private_networks(app, False)
    before = snapshot(database)
    refused = register(world.hub, "brew-bar", url, world.coffee)
    assert refused.status_code == 422, refused.json
    assert refused.json["error"]["code"] == "invalid_webhook"
    assert list(refused.json["error"]["details"]) == ["url"]
    assert snapshot(database) == before
    assert world.hub.call("GET", "/v1/partners/brew-bar/webhook", world.coffee).json["url"] is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:5432\\@evil.example/x", "http://user:password@10.0.0.5/x"])
def test_a_url_read_two_ways_is_refused_even_where_private_networks_are_allowed(world, app, database, url):
    private_networks(app, True)
    before = snapshot(database)
    refused = register(world.hub, "brew-bar", url, world.coffee)
    assert refused.status_code == 422 and list(refused.json["error"]["details"]) == ["url"]
    assert snapshot(database) == before


@pytest.mark.parametrize("url", ["https://hooks.brew-bar.example/coalition?v=1", f"http://{PUBLIC}:8080/in",
                                 "https://[2606:2800:220:1:248:1893:25c8:1946]/in", "HTTPS://Hooks.Example/x"])
def test_a_public_name_or_address_is_registered(world, app, url):
    private_networks(app, False)
    put = register(world.hub, "brew-bar", url, world.coffee)
    assert put.status_code == 200, put.json
    assert put.json["url"] == url


def test_an_internal_address_is_registered_where_private_networks_are_allowed(world, app):
    private_networks(app, True)
    assert register(world.hub, "brew-bar", "http://10.0.0.5:8080/in", world.coffee).status_code == 200


# ---------------------------------------------------------------- delivery


def test_the_backslash_trick_stored_before_the_check_reaches_nothing(world, app, database, clock, receiver):
    server = receiver()
    port = server.server.server_address[1]
    private_networks(app, False)
    register(world.hub, "brew-bar", f"http://{NAME}/x", world.coffee)
    database.transact(lambda session: session.execute(update(Webhook).values(url=f"http://127.0.0.1:{port}\\@evil.example/x")))
    world.hub.sale(world.coffee, world.card, "1.00")
    done = deliver(app, clock, COALITION_WEBHOOK_PRIVATE_NETWORKS=False)
    assert (done.attempts, done.retrying) == (1, 1)
    ((_, status, error),) = attempts(database)
    assert status is None and error.startswith("refused: the URL must not contain")
    assert server.requests == []


def test_a_name_resolving_to_loopback_is_refused_at_delivery(world, app, database, clock, receiver, monkeypatch):
    server = receiver()
    private_networks(app, False)
    resolver = Resolver(monkeypatch, ["127.0.0.1"])
    assert register(world.hub, "brew-bar", f"http://{NAME}:{server.server.server_address[1]}/x", world.coffee).status_code == 200
    world.hub.sale(world.coffee, world.card, "1.00")
    done = deliver(app, clock, COALITION_WEBHOOK_PRIVATE_NETWORKS=False)
    assert (done.attempts, done.retrying) == (1, 1)
    ((_, status, error),) = attempts(database)
    assert status is None and error.startswith("refused: the URL's host is a private address (127.0.0.1)")
    assert server.requests == [] and resolver.asked == [NAME]


@pytest.mark.parametrize("answer", [[PUBLIC, "127.0.0.1"], [PUBLIC, "::1"], [PUBLIC, "::ffff:10.0.0.1"]])
def test_a_name_with_one_internal_address_among_its_answers_is_refused(world, app, database, clock, receiver,
                                                                       monkeypatch, answer):
    server = receiver()
    private_networks(app, False)
    resolver = Resolver(monkeypatch, answer)
    register(world.hub, "brew-bar", f"http://{NAME}:{server.server.server_address[1]}/x", world.coffee)
    world.hub.sale(world.coffee, world.card, "1.00")
    deliver(app, clock, COALITION_WEBHOOK_PRIVATE_NETWORKS=False)
    ((_, status, error),) = attempts(database)
    shown = ipaddress.ip_address(answer[1])  # ::ffff:a00:1 or ::ffff:10.0.0.1, after the Python version
    assert status is None and error.startswith(f"refused: the URL's host is a private address ({shown})")
    assert server.requests == [] and resolver.asked == [NAME]  # nothing connected, not even to the public one


def test_a_rebinding_name_cannot_swap_the_address_between_check_and_connection(world, app, database, clock, receiver,
                                                                                monkeypatch):
    """The name answers a public address to the check and loopback after: the connection goes to the checked one."""
    server = receiver()
    private_networks(app, False)
    resolver = Resolver(monkeypatch, [PUBLIC], ["127.0.0.1"])
    register(world.hub, "brew-bar", f"http://{NAME}:{server.server.server_address[1]}/x", world.coffee)
    world.hub.sale(world.coffee, world.card, "1.00")
    done = deliver(app, clock, COALITION_WEBHOOK_PRIVATE_NETWORKS=False)
    assert (done.attempts, done.delivered, done.retrying) == (1, 0, 1)
    assert server.requests == []
    assert resolver.asked == [NAME, PUBLIC]  # resolved once; urllib3 was handed the address, not the name
    ((_, status, error),) = attempts(database)
    assert status is None and "NewConnectionError" in error and "refuses" in error


class Redirector:
    """A server answering every POST with a redirect to `location`."""

    def __init__(self, location: str, status: int = 302):
        self.hits = 0
        redirector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                redirector.hits += 1
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_attempt_and_never_followed(world, app, database, clock, receiver, status):
    """Private networks allowed, so the first hop is sent: the second server, where the redirect points, gets nothing."""
    target = receiver()
    redirector = Redirector(target.url, status)
    try:
        register(world.hub, "brew-bar", redirector.url, world.coffee)
        world.hub.sale(world.coffee, world.card, "1.00")
        done = deliver(app, clock)
    finally:
        redirector.close()
    assert (done.attempts, done.delivered, done.retrying) == (1, 0, 1)
    assert redirector.hits == 1 and target.requests == []
    ((_, code, error),) = attempts(database)
    assert code == status and error.startswith("a redirect is not followed")
    with database.session() as session:
        assert session.scalar(select(Delivery.status)) == "pending"


def test_a_delivery_to_a_name_connects_to_its_address_with_the_names_host_header(world, app, database, clock,
                                                                                 receiver, monkeypatch):
    server = receiver()
    port = server.server.server_address[1]
    resolver = Resolver(monkeypatch, ["127.0.0.1"])
    assert register(world.hub, "brew-bar", f"http://{NAME}:{port}/coalition?v=1", world.coffee).status_code == 200
    world.hub.sale(world.coffee, world.card, "1.00")
    done = deliver(app, clock)  # private networks allowed: the test's receiver is on 127.0.0.1
    assert (done.attempts, done.delivered) == (1, 1)
    ((request,),) = [server.requests]
    assert (request["host"], request["path"], request["verified"]) == (f"{NAME}:{port}", "/coalition?v=1", True)
    assert resolver.asked.count(NAME) == 1


def test_https_connects_to_the_checked_address_and_checks_the_certificate_for_the_name():
    """Unit-level: the pool is for the address, while SNI and the certificate's name are the URL's host."""
    target = destination.parse("https://hooks.brew-bar.example/coalition")
    address = destination.literal_address(PUBLIC)
    pools = sending.Pools()
    pool = pools.get(target, address)
    assert (pool.host, pool.port, pool.assert_hostname, pool.conn_kw["server_hostname"], pool.cert_reqs) == (
        PUBLIC, 443, NAME, NAME, "CERT_REQUIRED")
    assert target.host_header == NAME
    assert destination.parse("http://[::1]:8080/").host_header == "[::1]:8080"
    pools.close()


def certificate(tmp_path, name: str):
    """A self-signed certificate for `name` (its own CA) and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.mark.parametrize("served_name, delivered", [(NAME, True), ("someone-else.example", False)])
def test_https_goes_to_the_checked_address_with_the_names_sni_and_certificate_check(
        world, app, database, clock, receiver, monkeypatch, tmp_path, served_name, delivered):
    """A TLS server on 127.0.0.1 with a certificate for `served_name`, trusted: only the URL's own name is accepted."""
    import ssl

    server = receiver()
    cert_file, key_file = certificate(tmp_path, served_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    sni: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the trust store urllib3's default context loads
    Resolver(monkeypatch, ["127.0.0.1"])
    port = server.server.server_address[1]
    register(world.hub, "brew-bar", f"https://{NAME}:{port}/coalition", world.coffee)
    world.hub.sale(world.coffee, world.card, "1.00")
    done = deliver(app, clock, COALITION_WEBHOOK_TIMEOUT_SECONDS=5)
    assert done.delivered == delivered
    assert sni == [NAME]
    if delivered:
        assert [(r["host"], r["verified"]) for r in server.requests] == [(f"{NAME}:{port}", True)]
    else:
        ((_, status, error),) = attempts(database)
        assert status is None and error.startswith("SSLError") and NAME in error
        assert server.requests == []
