#!/usr/bin/env python3
"""Issue 9 from the outside: JWT, authorization hooks and sender identity on every transport.

Real clients (stomp_transports.py: raw STOMP over TCP, STOMP over WebSocket with `websockets`,
SockJS sockjs-websocket, and xhr-streaming, xhr-polling, eventsource, htmlfile, jsonp-polling with
`requests`) against the perigee
binary, started once per configuration (PERIGEE_BIN, default .build/debug/perigee, or
PERIGEE_CMD with {port}, {stomp_port}, {config}), and a scripted hook server of our own
(hook_server.py). Keys and tokens are made here: an HS256 secret, RSA and P-256 keys written as
PEM for `auth.jwt.public_key_file`, PyJWT tokens, and hand-made bad ones (alg none, tampered
claims). The contract is notes/spec-auth.md (issue 9); every check asserts it, and a check that
fails names what was sent, what was expected and what came back.

Configurations: `jwt` (HS256 + RS256, issuer, audience, leeway 0, an API key), `es256` (a P-256
key), `hooks` (connect/subscribe/send hooks, timeout 1.5 s, on_failure deny, send_prefixes
/topic/hooked/**), `hooks-allow` (all hooks, on_failure allow, forward_headers), `open` (no keys,
no JWT), `origin` (origins.allowed). Where the server disagrees with the contract, the check
keeps asserting the contract and its failure shows what was sent and what came back.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import traceback
import uuid

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hook_server import HookServer, Reply, allow, deny  # noqa: E402
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402
from stomp_transports import KINDS, TIMEOUT, encode_frame, open_client  # noqa: E402

QUIET = 0.7            # how long "nothing arrives" is watched for, after a later marker arrived
HOOK_TIMEOUT_S = 1.5   # hooks.timeout_ms of the hook configurations
HOOK_MARGIN_S = 2.0    # how much later than the hook timeout the ERROR may come
ISSUER = "https://issuer.perigee.test"
AUDIENCE = "perigee"
HS_SECRET = "auth-test-hs256-" + uuid.uuid4().hex + uuid.uuid4().hex
API_KEY = "auth-test-key-" + uuid.uuid4().hex
ORIGIN = "http://app.perigee.test"
UA = "perigee-auth-test/1.0"
SPOOF_NAMES = ["perigee-user", "Perigee-User", "PERIGEE-USER", "perigee-user ", " perigee-user"]
HOOK_KINDS = ["websocket", "xhr-streaming", "tcp"]
HTTP_KINDS = [k for k in KINDS if k not in ("tcp", "websocket", "sockjs-websocket")]  # SockJS over plain HTTP
TRANSPORT_NAMES = {kind: kind for kind in KINDS}  # the hooks' `transport`: our kinds use the contract's names


def uid():
    return uuid.uuid4().hex[:10]


def b64url(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------- keys and tokens
class Keys:
    def __init__(self, out):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.ec_other = ec.generate_private_key(ec.SECP256R1())
        self.rsa_pem = os.path.join(out, "jwt-rsa-public.pem")
        self.ec_pem = os.path.join(out, "jwt-ec-public.pem")
        for key, path in ((self.rsa, self.rsa_pem), (self.ec, self.ec_pem)):
            with open(path, "wb") as f:
                f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))


def claims(sub, **extra):
    now = int(time.time())
    c = {"sub": sub, "iat": now - 1, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def hs256(c, secret=HS_SECRET):
    return jwt.encode(c, secret, algorithm="HS256")


def rs256(keys, c, key=None):
    return jwt.encode(c, key or keys.rsa, algorithm="RS256")


def es256(keys, c, key=None):
    return jwt.encode(c, key or keys.ec, algorithm="ES256")


def alg_none(c, alg="none"):
    """An unsigned token, made by hand (PyJWT refuses to)."""
    return b64url(json.dumps({"alg": alg, "typ": "JWT"})) + "." + b64url(json.dumps(c)) + "."


def hs256_with_key_bytes(c, key):
    """HS256 by hand with any bytes as the secret (PyJWT refuses PEM keys as HMAC secrets): the
    algorithm-confusion attack signs with the server's public key file."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"})) + "." + b64url(json.dumps(c))
    return head + "." + b64url(hmac.new(key, head.encode("ascii"), hashlib.sha256).digest())


def tampered(token, **changes):
    """The payload segment changed, the header and signature kept."""
    h, p, s = token.split(".")
    payload = json.loads(b64url_decode(p))
    payload.update(changes)
    return h + "." + b64url(json.dumps(payload)) + "." + s


# ---------------------------------------------------------------------------- configurations
def write_config(out, name, text):
    path = os.path.join(out, f"perigee-{name}.yaml")
    with open(path, "w") as f:
        f.write(f"# written by auth_test.py ({name})\n" + text)
    return path


def jwt_config(keys):
    return f"""auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
    public_key_file: {keys.rsa_pem}
    issuer: "{ISSUER}"
    audience: "{AUDIENCE}"
    leeway_s: 0
api_keys:
  backend: "{API_KEY}"
"""


def es256_config(keys):
    """No leeway_s: the default, 30 s, applies."""
    return f"""auth:
  jwt:
    public_key_file: {keys.ec_pem}
api_keys:
  backend: "{API_KEY}"
"""


def hooks_config(hooks, on_failure="deny", all_hooks=True):
    lines = [f"""auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
    leeway_s: 0
api_keys:
  backend: "{API_KEY}"
hooks:
  connect: {hooks.url}/connect
  timeout_ms: {int(HOOK_TIMEOUT_S * 1000)}
  on_failure: {on_failure}
"""]
    if not all_hooks:
        lines.append('  forward_headers: ["login", "x-app-version"]\n')
    if on_failure == "allow":
        lines.append(f"""  subscribe: {hooks.url}/subscribe
  send: {hooks.url}/send
  send_prefixes: ["/topic/hooked/**"]
""")
    if all_hooks:
        lines.append(f"""  subscribe: {hooks.url}/subscribe
  send: {hooks.url}/send
  send_prefixes: ["/topic/hooked/**"]
""")
    return "".join(lines)


# ---------------------------------------------------------------------------- shared steps
class Ctx:
    def __init__(self, res, server, keys, hooks):
        self.res = res
        self.server = server
        self.keys = keys
        self.hooks = hooks
        self.open = []

    def client(self, kind, token=None, http_headers=None, **kw):
        c = open_client(kind, self.server, token=token, http_headers=http_headers, **kw)
        self.open.append(c)
        return c

    def close_all(self):
        for c in self.open:
            try:
                c.close()
            except Exception:  # noqa: BLE001
                pass
        self.open = []

    def check(self, name, ok, detail=""):
        return self.res.check(name, bool(ok), detail() if callable(detail) else detail)

    def observer(self, version=None):
        """An API-key session on STOMP/TCP: no hooks are called for it, it may read anything.
        version "1.0" makes it a STOMP 1.0 session (header values unescaped on the wire)."""
        c = self.client("tcp")
        f = c.connect({"login": "backend", "passcode": API_KEY, **({"accept-version": version} if version else {})})
        if f is None or f.command != "CONNECTED":
            raise AssertionError(f"observer (API key over TCP) not connected:\n{c.transcript()}")
        return c


def connected(f):
    return f is not None and f.command == "CONNECTED"


def is_error(f, message):
    return f is not None and f.command == "ERROR" and f.headers.get("message") == message


def show_hook_requests(reqs):
    return "\n".join(repr(r) for r in reqs) or "(no hook requests)"


def echo(c, f, dest=None):
    """If f is CONNECTED: SUBSCRIBE to dest (a fresh topic by default), SEND to it, and return
    the MESSAGE that comes back (None if none does, or f was not CONNECTED)."""
    if not connected(f):
        return None
    dest = dest or f"/topic/auth.{uid()}"
    body = "echo " + uid()
    c.subscribe(dest)
    c.send(dest, body)
    return c.message(body)


def anonymous_shout(ctx):
    """A WebSocket session without credentials shouts to /topic/shouts (which anonymous
    sessions may): the client and its MESSAGE (None if it never came)."""
    c = ctx.client("websocket")
    return c, echo(c, c.connect(), "/topic/shouts")


def check_accepted(ctx, label, kind, user, token=None, headers=None, http_headers=None):
    """CONNECTED, and a MESSAGE this session SENDs reaches its own subscription carrying
    exactly perigee-user:<user> (a topic outside the anonymous send rules, so it also proves
    the session is not anonymous)."""
    try:
        c = ctx.client(kind, token=token, http_headers=http_headers)
        f = c.connect(headers)
    except Exception as e:  # noqa: BLE001
        ctx.check(f"{label}: CONNECTED", False, f"open/CONNECT failed: {e!r}")
        return None
    if not ctx.check(f"{label}: CONNECTED", connected(f), c.transcript):
        return None
    m = echo(c, f)
    ctx.check(f"{label}: its MESSAGE carries perigee-user:{user}",
              m is not None and m.named("perigee-user") == [user],
              lambda: f"SUBSCRIBE and SEND to a fresh topic; expected MESSAGE with perigee-user:{user}\n{c.transcript()}")
    return c


def check_refused(ctx, label, kind, message, token=None, headers=None, http_headers=None,
                  reason=None, within=TIMEOUT, not_before=None):
    """ERROR message:<message> (never CONNECTED first), then the transport closes."""
    try:
        c = ctx.client(kind, token=token, http_headers=http_headers)
    except Exception as e:  # noqa: BLE001
        ctx.check(f"{label}: ERROR '{message}' then close", False, f"open failed: {e!r}")
        return None
    t0 = time.monotonic()
    f = c.connect(headers, timeout=within + 1.0)
    elapsed = (f.at - t0) if f is not None else None
    closed = c.wait_closed(3.0) if f is not None and f.command == "ERROR" else False
    ok = (is_error(f, message) and closed and elapsed <= within
          and (not_before is None or elapsed >= not_before)
          and (reason is None or reason in f.body.decode("utf-8", "replace")))
    expect = f"ERROR message:{message}" + (f" with '{reason}' in the body" if reason else "")
    ctx.check(f"{label}: ERROR '{message}' then close" + (f" (within {within:g} s)" if within != TIMEOUT else ""),
              ok, lambda: f"CONNECT headers {list((headers or {}).keys())}, token in URL: {token is not None}; "
                          f"expected {expect}, closed, within {within:g} s; "
                          f"got after {elapsed if elapsed is None else round(elapsed, 2)} s:\n{c.transcript()}")
    return c


# ---------------------------------------------------------------------------- jwt configuration
def test_jwt_accepted(ctx):
    """HS256 and RS256 on every transport: CONNECT Authorization, passcode, ?token=."""
    k = ctx.keys
    for kind in KINDS:
        user = f"alice-{kind}"
        check_accepted(ctx, f"[{kind}] HS256 in CONNECT Authorization: Bearer", kind, user + "-hs",
                       headers={"Authorization": "Bearer " + hs256(claims(user + "-hs"))})
        check_accepted(ctx, f"[{kind}] RS256 in CONNECT Authorization: Bearer", kind, user + "-rs",
                       headers={"Authorization": "Bearer " + rs256(k, claims(user + "-rs"))})
        check_accepted(ctx, f"[{kind}] HS256 as CONNECT passcode (any login)", kind, user + "-pc",
                       headers={"login": "whoever", "passcode": hs256(claims(user + "-pc"))})
        if kind != "tcp":
            check_accepted(ctx, f"[{kind}] RS256 in the URL ?token=", kind, user + "-q",
                           token=rs256(k, claims(user + "-q")))
        ctx.close_all()
    for kind in HTTP_KINDS:
        user = f"opener-{kind}"
        try:
            c = ctx.client(kind, token=hs256(claims(user)), send_token=False)
            m = echo(c, c.connect())
            ctx.check(f"[{kind}] ?token= only on the request that opened the session: the token's user",
                      m is not None and m.named("perigee-user") == [user], c.transcript)
        except Exception as e:  # noqa: BLE001
            ctx.check(f"[{kind}] ?token= only on the request that opened the session", False, repr(e))
    ctx.close_all()
    # The STOMP command (STOMP 1.2's alias of CONNECT) goes the same way.
    for kind in ("tcp", "websocket"):
        c = ctx.client(kind)
        c.send_frame("STOMP", {"accept-version": "1.2", "host": "perigee", "Authorization": "Bearer " + tampered(hs256(claims("x")), sub="admin")})
        e = c.wait(lambda f: f.command in ("CONNECTED", "ERROR"))
        ctx.check(f"[{kind}] STOMP frame (not CONNECT) with a tampered token: ERROR 'unauthorized', close",
                  is_error(e, "unauthorized") and c.wait_closed(3), c.transcript)
        c = ctx.client(kind)
        c.send_frame("STOMP", {"accept-version": "1.2", "host": "perigee", "Authorization": "Bearer " + hs256(claims("stomp-cmd"))})
        dest = f"/topic/auth.{uid()}"
        m = echo(c, c.wait(lambda f: f.command in ("CONNECTED", "ERROR")), dest)
        ctx.check(f"[{kind}] STOMP frame with a valid token: CONNECTED, its MESSAGE carries perigee-user:stomp-cmd",
                  m is not None and m.named("perigee-user") == ["stomp-cmd"], c.transcript)
        # A second CONNECT never changes who the session is.
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "perigee", "Authorization": "Bearer " + hs256(claims("bob"))})
        c.send(dest, "after a second CONNECT")
        c.wait_closed(2)
        ctx.check(f"[{kind}] a second CONNECT (another token) never makes the session bob",
                  not any(m.named("perigee-user") == ["bob"] for m in c.messages())
                  and not any(f.command == "CONNECTED" and f.named("perigee-user") == ["bob"] for f in c.frames),
                  c.transcript)
        ctx.close_all()
    # aud as a list that contains the audience
    check_accepted(ctx, "[websocket] aud as a list containing the audience", "websocket", "alice-audlist",
                   headers={"Authorization": "Bearer " + hs256(claims("alice-audlist", aud=["other", AUDIENCE]))})
    # Authorization header wins over the URL token
    check_accepted(ctx, "[websocket] CONNECT Authorization preferred to ?token=", "websocket", "alice-header",
                   token=hs256(claims("alice-url")),
                   headers={"Authorization": "Bearer " + hs256(claims("alice-header"))})
    ctx.close_all()


def bad_tokens(k):
    now = int(time.time())
    good = hs256(claims("mallory"))
    return [
        ("expired (exp 60 s ago, leeway 0)", hs256(claims("mallory", exp=now - 60, iat=now - 120))),
        ("not yet valid (nbf 60 s ahead, leeway 0)", hs256(claims("mallory", nbf=now + 60))),
        ("HS256 signed with another secret", hs256(claims("mallory"), secret="x" * 48)),
        ("RS256 signed with another RSA key", rs256(k, claims("mallory"), key=k.rsa_other)),
        ("ES256 while only an RSA public key is configured", es256(k, claims("mallory"))),
        ("alg none, no signature", alg_none(claims("mallory"))),
        ("tampered claims (sub changed, signature kept)", tampered(good, sub="admin")),
        ("tampered claims (perigee widened, signature kept)",
         tampered(hs256(claims("mallory", perigee={"subscribe": ["/topic/a/**"]})), perigee={"subscribe": ["/**"]})),
        ("wrong iss", hs256(claims("mallory", iss="https://evil.example"))),
        ("missing iss while one is configured", hs256(claims("mallory", iss=None))),
        ("wrong aud", hs256(claims("mallory", aud="someone-else"))),
        ("aud list without the audience", hs256(claims("mallory", aud=["a", "b"]))),
        ("alg NONE (upper case), no signature", alg_none(claims("mallory"), alg="NONE")),
        ("not a JWT at all", "not-a-jwt-nor-an-api-key"),
    ]


def test_sub_injection(ctx):
    """A signed token whose sub holds a newline must not inject a header into MESSAGE frames
    (STOMP 1.0 does not escape header values): refused, or its id never splits a header."""
    tok = hs256(claims("eve\nx-injected:yes"))
    obs = ctx.observer("1.0")
    dest = f"/topic/inject.{uid()}"
    obs.subscribe(dest)
    c = ctx.client("tcp")
    f = c.connect({"Authorization": "Bearer " + tok})
    if connected(f):
        c.send(dest, "injected?")
        m = obs.message("injected?")
        ok = m is not None and not m.named("x-injected")
    else:
        ok = is_error(f, "unauthorized")
    ctx.check("[tcp] sub with a newline: refused, or no header injected into a STOMP 1.0 subscriber's MESSAGE",
              ok, lambda: c.transcript() + "\n--- 1.0 subscriber:\n" + obs.transcript())
    # STOMP 1.2 escapes a newline in a header value; STOMP 1.0 cannot: a value holding
    # "\nperigee-user:mallory" must not become a header line for a 1.0 subscriber.
    obs.subscribe("/topic/shouts")
    for kind in ("websocket", "xhr-polling"):
        c = ctx.client(kind)
        c.connect()
        body = "value injection " + uid()
        c.send("/topic/shouts", body, headers=[("x-foo", "bar\nperigee-user:mallory")])
        m = obs.message(body)
        ctx.check(f"[{kind}] anonymous 1.2 header value with an escaped newline + perigee-user: a STOMP 1.0 "
                  "subscriber sees no perigee-user", m is not None and m.named("perigee-user") == [],
                  obs.transcript)
    ctx.close_all()


def test_open_gateway(ctx):
    """No keys, no JWT: loopback may publish over HTTP, and still cannot set perigee-user."""
    c = ctx.client("tcp")
    c.connect()
    dest = "/topic/shouts"  # a keyless loopback publisher is anonymous: it may shout, nothing more
    c.subscribe(dest)
    body = "open " + uid()
    r = requests.post(f"{ctx.server.http_url}/api/publish{dest}", data=body, timeout=TIMEOUT,
                      headers={"X-Stomp-perigee-user": "mallory", "X-Stomp-PERIGEE-USER": "mallory"})
    m = c.message(body)
    ctx.check("[http api] keyless loopback publish with X-Stomp-perigee-user: mallory → no perigee-user",
              r.status_code == 202 and m is not None and m.named("perigee-user") == []
              and not any(v == "mallory" for _, v in m.raw_headers),
              lambda: f"{r.status_code} {r.text[:200]}\n{c.transcript()}")
    ctx.close_all()


def test_hostile_claims(ctx):
    """Signed tokens with absurd numbers or types get CONNECTED or ERROR, never a crash. `iat`
    is informational (RFC 7519 §4.1.6): a token issued "in the future" is not refused."""
    now = int(time.time())
    for label, c in [("exp 1e300", claims("h", exp=1e300)), ("exp 2**70", claims("h", exp=2 ** 70)),
                     ("nbf -2**63", claims("h", nbf=-2 ** 63)), ("nbf 2**64", claims("h", nbf=2 ** 64)),
                     ("iat 1e300", claims("h", iat=1e300)), ("exp a string", claims("h", exp="soon")),
                     ("sub an object", claims({"a": 1})), ("sub 5000 bytes", claims("x" * 5000))]:
        cl = ctx.client("websocket")
        f = cl.connect({"Authorization": "Bearer " + hs256(c)})
        ctx.check(f"[websocket] token with {label}: CONNECTED or ERROR, and the server lives",
                  f is not None and f.command in ("CONNECTED", "ERROR") and ctx.server.alive(), cl.transcript)
        ctx.close_all()
    cl = ctx.client("websocket")
    f = cl.connect({"Authorization": "Bearer " + hs256(claims("h", iat=now + 3600))})
    ctx.check("[websocket] iat 1 h in the future: accepted (iat is not checked)",
              f is not None and f.command == "CONNECTED", cl.transcript)
    ctx.close_all()


def test_token_crafting(ctx):
    """The hand-made bad tokens really are bad (so a pass below is not a test-side accident)."""
    k = ctx.keys
    good = hs256(claims("mallory"))
    for label, token, key, algs in [
        ("tampered HS256 token fails PyJWT verification", tampered(good, sub="admin"), HS_SECRET, ["HS256"]),
        ("alg none token fails PyJWT verification", alg_none(claims("x")), HS_SECRET, ["HS256"]),
    ]:
        try:
            jwt.decode(token, key, algorithms=algs, audience=AUDIENCE, issuer=ISSUER)
            ctx.check(f"token crafting: {label}", False, "it verified")
        except jwt.InvalidTokenError:
            ctx.check(f"token crafting: {label}", True)
    decoded = jwt.decode(rs256(k, claims("bob")), k.rsa.public_key(), algorithms=["RS256"], audience=AUDIENCE)
    ctx.check("token crafting: an RS256 token verifies with the PEM written for the server", decoded["sub"] == "bob")


def test_jwt_refused(ctx):
    k = ctx.keys
    for label, token in bad_tokens(k):
        check_refused(ctx, f"[websocket] {label}, CONNECT Authorization", "websocket", "unauthorized",
                      headers={"Authorization": "Bearer " + token})
        ctx.close_all()
    for label, token in bad_tokens(k)[:7]:
        check_refused(ctx, f"[tcp] {label}, CONNECT passcode", "tcp", "unauthorized",
                      headers={"login": "x", "passcode": token})
        ctx.close_all()
    for kind in [k for k in KINDS if k != "tcp"]:
        label, token = bad_tokens(k)[0]
        check_refused(ctx, f"[{kind}] {label}, URL ?token=", kind, "unauthorized", token=token)
        label, token = bad_tokens(k)[6]
        check_refused(ctx, f"[{kind}] {label}, URL ?token=", kind, "unauthorized", token=token)
        ctx.close_all()


def test_http_api_auth(ctx):
    k = ctx.keys
    url = f"{ctx.server.http_url}/api/publish/topic/api.{uid()}"
    for label, token in [("expired JWT", bad_tokens(k)[0][1]), ("alg none JWT", alg_none(claims("x"))),
                         ("tampered JWT", tampered(hs256(claims("x")), sub="admin"))]:
        try:
            r = requests.post(url, data="x", headers={"Authorization": "Bearer " + token}, timeout=TIMEOUT)
            try:
                body = r.json()
            except ValueError:
                body = None
            ctx.check(f"[http api] {label} as Bearer → 401 JSON {{\"error\": ...}}",
                      r.status_code == 401 and isinstance(body, dict) and isinstance(body.get("error"), str),
                      f"POST {url}; got {r.status_code} {r.headers.get('Content-Type')} {r.text[:300]!r}")
        except requests.RequestException as e:
            ctx.check(f"[http api] {label} as Bearer → 401", False, repr(e))


def test_narrowing(ctx):
    narrow = {"subscribe": ["/topic/a/**"], "send": ["/topic/a/**"]}
    for kind in ("websocket", "xhr-polling", "tcp"):
        tok = hs256(claims("narrow", perigee=narrow))
        c = ctx.client(kind)
        f = c.connect({"Authorization": "Bearer " + tok})
        if not ctx.check(f"[{kind}] narrowed token: CONNECTED", connected(f), c.transcript):
            continue
        dest = f"/topic/a/x.{uid()}"
        r = c.subscribe(dest)
        ctx.check(f"[{kind}] perigee.subscribe [/topic/a/**]: SUBSCRIBE {dest} → RECEIPT",
                  r is not None and r.command == "RECEIPT", c.transcript)
        body = "narrow " + uid()
        c.send(dest, body)
        m = c.message(body)
        ctx.check(f"[{kind}] perigee.send [/topic/a/**]: SEND {dest} delivered with perigee-user:narrow",
                  m is not None and m.named("perigee-user") == ["narrow"], c.transcript)
        r = c.subscribe("/topic/b", receipt="sub-b")
        ctx.check(f"[{kind}] perigee.subscribe [/topic/a/**]: SUBSCRIBE /topic/b → ERROR 'permission denied', close",
                  is_error(r, "permission denied") and c.wait_closed(3), c.transcript)
        c2 = ctx.client(kind)
        c2.connect({"Authorization": "Bearer " + tok})
        c2.send("/topic/b/x", "not allowed")
        e = c2.wait_command("ERROR")
        ctx.check(f"[{kind}] perigee.send [/topic/a/**]: SEND /topic/b/x → ERROR 'permission denied', close",
                  is_error(e, "permission denied") and c2.wait_closed(3), c2.transcript)
        ctx.close_all()
    c = ctx.client("websocket")
    f = c.connect({"Authorization": "Bearer " + hs256(claims("none-allowed", perigee={"subscribe": [], "send": []}))})
    r = c.subscribe(f"/topic/any.{uid()}") if connected(f) else None
    ctx.check("[websocket] perigee.subscribe [] → the session may subscribe to nothing",
              connected(f) and is_error(r, "permission denied"), c.transcript)
    ctx.close_all()
    # A pattern subscription allowed by the globs never delivers a destination they do not allow.
    for kind in ("websocket", "tcp"):
        room = f"pub{uid()}"
        c = ctx.client(kind)
        f = c.connect({"Authorization": "Bearer " + hs256(claims("pattern", perigee={"subscribe": [f"/topic/{room}.*"]}))})
        r = c.subscribe(f"/topic/{room}.#") if connected(f) else None
        if ctx.check(f"[{kind}] perigee.subscribe [/topic/R.*]: pattern SUBSCRIBE /topic/R.# → RECEIPT",
                     r is not None and r.command == "RECEIPT", c.transcript):
            obs = ctx.observer()
            obs.subscribe(f"/topic/{room}.a/secret")  # proves the secret really was published
            obs.send(f"/topic/{room}.a/secret", "secret")
            obs.send(f"/topic/{room}.ok", "ok")
            ok = c.message("ok")
            ctx.check(f"[{kind}] pattern subscription: /topic/R.ok delivered, /topic/R.a/secret (outside the glob) not",
                      ok is not None and obs.message("secret") is not None and c.message("secret", timeout=0.01) is None,
                      lambda: c.transcript() + "\n--- observer:\n" + obs.transcript())
        ctx.close_all()
    # The claim narrows, never widens: /queue/** is outside access.authenticated (/topic/**).
    c = ctx.client("websocket")
    f = c.connect({"Authorization": "Bearer " + hs256(claims("wide", perigee={"subscribe": ["/**"], "send": ["/**"]}))})
    r = c.subscribe(f"/queue/q.{uid()}") if connected(f) else None
    ctx.check("[websocket] perigee.subscribe [/**] does not widen access.authenticated: SUBSCRIBE /queue/… → "
              "ERROR 'permission denied'", is_error(r, "permission denied"), c.transcript)
    ctx.close_all()


def test_expiry(ctx):
    """exp a few seconds ahead (leeway 0): ERROR 'token expired' and close at about exp."""
    kinds = list(KINDS)
    exp = int(time.time()) + 4
    exp_mono = time.monotonic() + (exp - time.time())
    clients = {}
    for kind in kinds:
        c = ctx.client(kind)
        f = c.connect({"Authorization": "Bearer " + hs256(claims(f"short-{kind}", exp=exp))})
        if not ctx.check(f"[{kind}] token expiring in ~4 s: CONNECTED", connected(f), c.transcript):
            continue
        ctx.check(f"[{kind}] token expiring in ~4 s: works before exp", echo(c, f) is not None, c.transcript)
        clients[kind] = c
    for kind, c in clients.items():
        e = c.wait(lambda f: f.command == "ERROR", timeout=max(0.1, exp_mono - time.monotonic()) + 4.0)
        closed = c.wait_closed(2.0)
        at = None if e is None else round(e.at - exp_mono, 2)
        ctx.check(f"[{kind}] at exp: ERROR 'token expired' (not before exp-1 s, within 2.5 s after) and close",
                  is_error(e, "token expired") and -1.0 <= e.at - exp_mono <= 2.5 and closed,
                  lambda: f"ERROR arrived at exp{at:+} s\n{c.transcript()}" if at is not None else c.transcript())
    ctx.close_all()


def test_spoofing(ctx):
    """perigee-* headers on SEND are dropped: anonymous → no perigee-user, JWT → the real id."""
    tok = hs256(claims("alice-real"))
    for kind in KINDS:
        for who, headers, expected in [("anonymous", {}, []),
                                       ("authenticated", {"Authorization": "Bearer " + tok}, ["alice-real"])]:
            c = ctx.client(kind)
            f = c.connect(headers)
            if not ctx.check(f"[{kind}] {who}: CONNECTED", connected(f), c.transcript):
                continue
            dest = "/topic/shouts"
            c.subscribe(dest)
            for name in SPOOF_NAMES:
                body = f"spoof {name!r} {uid()}"
                c.send(dest, body, headers=[(name, "mallory")])
                m = c.message(body)
                ctx.check(f"[{kind}] {who} SEND with '{name}:mallory' → MESSAGE perigee-user {expected or 'absent'}",
                          m is not None and m.named("perigee-user") == expected
                          and not any(v == "mallory" for _, v in m.raw_headers),
                          lambda: f"expected perigee-user values {expected}, no 'mallory'; got:\n{c.transcript()}")
            ctx.close_all()
    for kind in ("websocket", "tcp"):
        c = ctx.client(kind)
        f = c.connect({"Authorization": "Bearer " + tok})
        dest = f"/topic/tx.{uid()}"
        body = "in a transaction " + uid()
        if connected(f):
            c.subscribe(dest)
            c.send_frame("BEGIN", {"transaction": "t1"})
            c.send_frame("SEND", [("destination", dest), ("transaction", "t1"), ("perigee-user", "mallory"),
                                  ("Perigee-User", "mallory")], body)
            c.send_frame("COMMIT", {"transaction": "t1"})
        m = c.message(body) if connected(f) else None
        ctx.check(f"[{kind}] transactional SEND with perigee-user:mallory → after COMMIT perigee-user:alice-real only",
                  m is not None and m.named("perigee-user") == ["alice-real"]
                  and not any(v == "mallory" for _, v in m.raw_headers), c.transcript)
        ctx.close_all()
    obs = ctx.observer()
    for kind in ("tcp", "websocket"):
        dest = f"/topic/pipelined.{uid()}"
        obs.subscribe(dest)
        body = "behind a refused CONNECT " + uid()
        c = ctx.client(kind)
        bad = tampered(hs256(claims("x")), sub="admin")
        c.send_raw(encode_frame("CONNECT", {"accept-version": "1.2", "host": "perigee", "Authorization": "Bearer " + bad})
                   + encode_frame("SEND", {"destination": dest}, body))
        e = c.wait_command("ERROR")
        obs.send(dest, "marker " + body)
        marker = obs.message("marker " + body)
        ctx.check(f"[{kind}] SEND pipelined behind a CONNECT with an invalid token: ERROR, never published",
                  is_error(e, "unauthorized") and marker is not None and obs.message(body, timeout=0.01) is None,
                  lambda: c.transcript() + "\n--- observer:\n" + obs.transcript())
    ctx.close_all()
    obs = ctx.observer()
    dest = f"/topic/api.{uid()}"
    obs.subscribe(dest)
    body = "from the api " + uid()
    r = requests.post(f"{ctx.server.http_url}/api/publish{dest}", data=body, timeout=TIMEOUT,
                      headers={"Authorization": "Bearer " + API_KEY, "Content-Type": "text/plain",
                               "X-Stomp-perigee-user": "mallory", "X-Stomp-Perigee-Other": "x"})
    m = obs.message(body)
    body2 = "from the key's STOMP session " + uid()
    obs.send(dest, body2, headers=[("perigee-user", "mallory")])
    m2 = obs.message(body2)
    ctx.check("[tcp] API-key session 'backend' SEND with perigee-user:mallory → MESSAGE perigee-user:backend only",
              m2 is not None and m2.named("perigee-user") == ["backend"], obs.transcript)
    ctx.check("[http api] key 'backend' with X-Stomp-perigee-user: mallory → 202, MESSAGE perigee-user:backend only",
              r.status_code == 202 and m is not None and m.named("perigee-user") == ["backend"]
              and not any(v == "mallory" for _, v in m.raw_headers) and not m.named("perigee-other"),
              lambda: f"HTTP {r.status_code} {r.text[:200]!r}\n{obs.transcript()}")
    ctx.close_all()


# ---------------------------------------------------------------------------- es256 configuration
def test_es256(ctx):
    k = ctx.keys
    check_accepted(ctx, "[websocket] ES256 in CONNECT Authorization: Bearer", "websocket", "erin-ws",
                   headers={"Authorization": "Bearer " + es256(k, claims("erin-ws"))})
    check_accepted(ctx, "[tcp] ES256 as CONNECT passcode", "tcp", "erin-tcp",
                   headers={"login": "x", "passcode": es256(k, claims("erin-tcp"))})
    check_accepted(ctx, "[xhr-streaming] ES256 in the URL ?token=", "xhr-streaming", "erin-xs",
                   token=es256(k, claims("erin-xs")))
    now = int(time.time())
    # Accepted within the leeway, the session lives until exp + leeway (README: "At exp (plus
    # leeway) a session gets ERROR token expired"), not ERROR at once.
    check_accepted(ctx, "[websocket] default leeway 30 s: exp 10 s ago still accepted, session usable", "websocket",
                   "erin-late", headers={"Authorization": "Bearer " + es256(k, claims("erin-late", exp=now - 10, iat=now - 60))})
    check_accepted(ctx, "[websocket] default leeway 30 s: nbf 10 s ahead already accepted", "websocket", "erin-early",
                   headers={"Authorization": "Bearer " + es256(k, claims("erin-early", nbf=now + 10))})
    check_refused(ctx, "[websocket] default leeway 30 s: exp 60 s ago refused", "websocket", "unauthorized",
                  headers={"Authorization": "Bearer " + es256(k, claims("x", exp=now - 60, iat=now - 120))})
    check_refused(ctx, "[websocket] default leeway 30 s: nbf 60 s ahead refused", "websocket", "unauthorized",
                  headers={"Authorization": "Bearer " + es256(k, claims("x", nbf=now + 60))})
    check_refused(ctx, "[websocket] ES256 signed with another P-256 key", "websocket", "unauthorized",
                  headers={"Authorization": "Bearer " + es256(k, claims("x"), key=k.ec_other)})
    check_refused(ctx, "[websocket] RS256 when only a P-256 key is configured", "websocket", "unauthorized",
                  headers={"Authorization": "Bearer " + rs256(k, claims("x"))})
    with open(k.ec_pem, "rb") as f:
        pem = f.read()
    check_refused(ctx, "[websocket] algorithm confusion: HS256 signed with the configured public key PEM", "websocket",
                  "unauthorized", headers={"Authorization": "Bearer " + hs256_with_key_bytes(claims("x"), pem)})
    check_refused(ctx, "[websocket] HS256 when no hs256_secret is configured", "websocket", "unauthorized",
                  headers={"Authorization": "Bearer " + hs256(claims("x"))})
    ctx.close_all()


# ---------------------------------------------------------------------------- hooks configuration
def browser_headers(ctx, cookie):
    """What a browser on the gateway's own pages sends (its own origin is always allowed)."""
    return {"Cookie": cookie, "Origin": ctx.server.http_url, "User-Agent": UA}


def test_connect_hook_allow(ctx):
    hooks = ctx.hooks
    for kind in KINDS:
        user = f"hook-user-{kind}"
        hooks.reset(connect=lambda r, user=user: allow(user=user, data={"name": "Hook"}))
        mark = hooks.mark()
        cookie = f"sessionid={uid()}"
        tok = hs256(claims("jwt-alice"))
        c = check_accepted(ctx, f"[{kind}] connect hook allow {{user}}: perigee-user from the hook", kind, user,
                           headers={"Authorization": "Bearer " + tok, "login": "alice-login", "passcode": tok},
                           http_headers=browser_headers(ctx, cookie))
        reqs = hooks.since(mark, "connect")
        req = reqs[0].json if reqs else {}
        ctx.check(f"[{kind}] connect hook called once, JSON POST with hook/session/transport/tls/client",
                  len(reqs) == 1 and reqs[0].headers.get("content-type", "").startswith("application/json")
                  and req.get("hook") == "connect" and isinstance(req.get("session"), str) and req.get("session")
                  and req.get("transport") == TRANSPORT_NAMES[kind] and req.get("tls") is False
                  and (req.get("client") or {}).get("address") == "127.0.0.1"
                  and isinstance((req.get("client") or {}).get("port"), int),
                  lambda: show_hook_requests(reqs))
        sh = {n.lower(): v for n, v in (req.get("stomp_headers") or {}).items()}
        ctx.check(f"[{kind}] connect hook: stomp_headers has accept-version, withholds login/passcode/authorization",
                  "accept-version" in sh and not ({"login", "passcode", "authorization"} & set(sh)),
                  lambda: json.dumps(req.get("stomp_headers")))
        ctx.check(f"[{kind}] connect hook: the verified JWT claims in `token`",
                  (req.get("token") or {}).get("sub") == "jwt-alice", lambda: json.dumps(req))
        hh = req.get("http_headers")
        if kind == "tcp":
            ctx.check("[tcp] connect hook: no http_headers on STOMP/TCP", not hh, lambda: json.dumps(req))
            local = c.sock.getsockname()[1] if c is not None else None
            ctx.check("[tcp] connect hook: client.port is the client's own port",
                      (req.get("client") or {}).get("port") == local, lambda: f"client port {local}: {json.dumps(req)}")
        else:
            ctx.check(f"[{kind}] connect hook: http_headers carry cookie, origin, user-agent (lowercase names)",
                      isinstance(hh, dict) and hh.get("cookie") == cookie and hh.get("origin") == ctx.server.http_url
                      and hh.get("user-agent") == UA, lambda: json.dumps(req))
        ctx.close_all()
    # SockJS: the headers of the xhr_send that carries CONNECT, not of the request that opened
    # the session. A session id is the client's choice: a page could open one in a victim's
    # browser by a cross-site navigation (cookies, no Origin) and send CONNECT from elsewhere,
    # which must not authenticate with the victim's cookie (session fixation, found in review).
    for kind in HTTP_KINDS:
        hooks.reset(connect=lambda r: allow(user="sender"))
        mark = hooks.mark()
        c = ctx.client(kind, http_headers=browser_headers(ctx, "sessionid=victim"),
                       send_http_headers={"User-Agent": "attacker/1"})
        f = c.connect()
        reqs = hooks.since(mark, "connect")
        hh = (reqs[0].json or {}).get("http_headers") if reqs else None
        ctx.check(f"[{kind}] connect hook: http_headers are those of the xhr_send carrying CONNECT (no opener cookie)",
                  connected(f) and isinstance(hh, dict) and "cookie" not in hh
                  and hh.get("user-agent") == "attacker/1", lambda: f"{show_hook_requests(reqs)}\n{c.transcript()}")
    ctx.close_all()
    # user absent → anonymous rules; lists given → they replace the rules
    hooks.reset(connect=lambda r: allow())
    mark = hooks.mark()
    c, m = anonymous_shout(ctx)
    ctx.check("[websocket] connect hook allow without user: anonymous (no perigee-user on its MESSAGE)",
              m is not None and m.named("perigee-user") == [], c.transcript)
    reqs = hooks.since(mark, "connect")
    ctx.check("[websocket] connect hook without credentials: no `token` in the request",
              len(reqs) == 1 and "token" not in (reqs[0].json or {}), lambda: show_hook_requests(reqs))
    c = ctx.client("websocket")
    m = echo(c, c.connect({"Authorization": "Bearer " + hs256(claims("jwt-but-hook-silent"))}), "/topic/shouts")
    ctx.check("[websocket] valid JWT, connect hook answers {} (no user): the token's sub stands (README)",
              m is not None and m.named("perigee-user") == ["jwt-but-hook-silent"], c.transcript)
    hooks.reset(connect=lambda r: allow(user=None))
    c, m = anonymous_shout(ctx)
    ctx.check("[websocket] connect hook allow {user: null}: anonymous (no perigee-user on its MESSAGE)",
              m is not None and m.named("perigee-user") == [], c.transcript)
    c.send(f"/topic/elsewhere.{uid()}", "x")
    ctx.check("[websocket] connect hook allow without user: anonymous send rules (SEND elsewhere denied)",
              is_error(c.wait_command("ERROR"), "permission denied"), c.transcript)
    hooks.reset(connect=lambda r: allow(user="listed", send=["/topic/only/**"], subscribe=["/topic/only/**"]))
    c = ctx.client("websocket")
    f = c.connect()
    r = c.subscribe(f"/topic/only/{uid()}") if connected(f) else None
    ctx.check("[websocket] hook lists replace the rules: SUBSCRIBE inside them → RECEIPT",
              r is not None and r.command == "RECEIPT", c.transcript)
    c.send(f"/topic/other.{uid()}", "x")
    ctx.check("[websocket] hook lists replace the rules: SEND outside them → ERROR 'permission denied'",
              is_error(c.wait_command("ERROR"), "permission denied"), c.transcript)
    ctx.close_all()
    hooks.reset(connect=lambda r: allow(user="nothing", subscribe=[], send=[]))
    c = ctx.client("websocket")
    f = c.connect()
    r = c.subscribe(f"/topic/any.{uid()}") if connected(f) else None
    ctx.check("[websocket] hook answers subscribe: [] → the session may subscribe to nothing",
              is_error(r, "permission denied"), c.transcript)
    ctx.close_all()
    # API-key sessions never reach the hook
    mark = hooks.mark()
    c = ctx.client("websocket")
    f = c.connect({"login": "backend", "passcode": API_KEY})
    ctx.check("[websocket] API-key CONNECT: CONNECTED without a connect hook call",
              connected(f) and not hooks.since(mark, "connect"), lambda: show_hook_requests(hooks.since(mark)))
    ctx.close_all()


def test_connect_hook_refusals(ctx):
    hooks = ctx.hooks
    late = HOOK_TIMEOUT_S + 1.5
    for kind in HOOK_KINDS:
        reason = f"banned {uid()}"
        hooks.reset(connect=lambda r, reason=reason: deny(reason))
        check_refused(ctx, f"[{kind}] connect hook 403", kind, "unauthorized", reason=reason,
                      http_headers=browser_headers(ctx, "a=b"))
        hooks.reset(connect=lambda r: allow(user="late", delay=late))
        check_refused(ctx, f"[{kind}] connect hook answers after timeout_ms (body names the hook)", kind,
                      "authorization unavailable", reason="connect",
                      within=HOOK_TIMEOUT_S + HOOK_MARGIN_S, not_before=HOOK_TIMEOUT_S * 0.8)
        ctx.close_all()
    failures = [("500", lambda r: Reply(500, {"error": "boom"})),
                ("malformed JSON", lambda r: Reply(200, raw=b'{"user": "x",')),
                ("hang-up without an answer", lambda r: Reply(hang_up=True)),
                ("a 70 KiB answer (> 64 KiB)", lambda r: Reply(200, raw=json.dumps({"user": "big", "data": {"pad": "p" * 70000}}).encode()))]
    failures += [("200 with a JSON array", lambda r: Reply(200, raw=b"[]")),
                 ("200 with an empty body", lambda r: Reply(200, raw=b"")),
                 ("204 (not 200)", lambda r: Reply(204, raw=b"")),
                 ("201 with a user (not 200)", lambda r: Reply(201, {"user": "created"}))]
    for kind in ("websocket", "xhr-streaming"):
        for label, fn in failures[: (len(failures) if kind == "websocket" else 2)]:
            hooks.reset(connect=fn)
            check_refused(ctx, f"[{kind}] connect hook {label}", kind, "authorization unavailable",
                          within=HOOK_TIMEOUT_S + HOOK_MARGIN_S)
        hooks.reset(connect=lambda r: allow(user=f"slow-{kind}", delay=HOOK_TIMEOUT_S / 3))
        check_accepted(ctx, f"[{kind}] connect hook slow but within timeout_ms", kind, f"slow-{kind}")
        ctx.close_all()
    # Frames pipelined behind CONNECT wait for the connect hook: published after an allow, in
    # order; never published after a deny.
    obs = ctx.observer()
    for kind in ("tcp", "websocket"):
        for verdict in ("allow", "deny"):
            dest = f"/topic/pipelined.{uid()}"
            obs.subscribe(dest)
            hooks.reset(connect=lambda r, v=verdict: allow(user="piper", delay=0.4) if v == "allow" else Reply(403, {"reason": "no"}, delay=0.4))
            c = ctx.client(kind)
            bodies = [f"piped-{i} {uid()}" for i in range(3)]
            c.send_raw(encode_frame("CONNECT", {"accept-version": "1.2", "host": "perigee"})
                       + b"".join(encode_frame("SEND", {"destination": dest}, b) for b in bodies))
            if verdict == "allow":
                obs.message(bodies[-1])
                got = [m.body.decode() for m in obs.messages() if m.headers.get("destination") == dest]
                users = [m.named("perigee-user") for m in obs.messages() if m.headers.get("destination") == dest]
                ctx.check(f"[{kind}] SENDs pipelined behind CONNECT wait for the connect hook, then go out in order as its user",
                          got == bodies and all(u == ["piper"] for u in users),
                          lambda: f"sent {bodies}\ngot {got} users {users}\n{c.transcript()}")
            else:
                e = c.wait_command("ERROR")
                obs.send(dest, "marker " + bodies[0])
                marker = obs.message("marker " + bodies[0])
                leaked = [m.body.decode() for m in obs.messages() if m.headers.get("destination") == dest
                          and not m.body.startswith(b"marker")]
                ctx.check(f"[{kind}] SENDs pipelined behind a CONNECT the hook refuses are never published",
                          is_error(e, "unauthorized") and marker is not None and not leaked,
                          lambda: f"leaked {leaked}\n{c.transcript()}")
    ctx.close_all()
    for v in (1e300, 2 ** 70, -5, "soon"):
        hooks.reset(connect=lambda r, v=v: allow(user="odd", expires_in=v))
        c = ctx.client("websocket")
        f = c.connect()
        ctx.check(f"[websocket] connect hook expires_in {v!r}: CONNECTED or ERROR, and the server lives",
                  f is not None and f.command in ("CONNECTED", "ERROR") and ctx.server.alive(), c.transcript)
    ctx.close_all()
    hooks.reset(connect=lambda r: Reply(403, raw=b""))
    check_refused(ctx, "[websocket] connect hook 403 without a body", "websocket", "unauthorized")
    for status in (302, 307):
        def redirect(r, status=status):
            if r.path.endswith("/redirected"):
                return allow(user="redirected")
            return Reply(status, {}, headers={"Location": f"{hooks.url}/connect/redirected"})
        hooks.reset(connect=redirect, redirected=redirect)
        mark = hooks.mark()
        check_refused(ctx, f"[websocket] connect hook answers {status} (a redirect is not an answer)", "websocket",
                      "authorization unavailable", within=HOOK_TIMEOUT_S + HOOK_MARGIN_S)
        followed = hooks.since(mark, pred=lambda r: r.path.endswith("/redirected"))
        ctx.check(f"[websocket] connect hook {status}: the redirect is not followed", not followed,
                  lambda: show_hook_requests(hooks.since(mark)))
    ctx.close_all()
    # An invalid token is refused before any hook call.
    hooks.reset(connect=lambda r: allow(user="should-not-matter"))
    mark = hooks.mark()
    check_refused(ctx, "[websocket] invalid JWT with a connect hook configured", "websocket", "unauthorized",
                  headers={"Authorization": "Bearer " + tampered(hs256(claims("x")), sub="admin")})
    ctx.check("[websocket] invalid JWT: the connect hook is not called", not hooks.since(mark, "connect"),
              lambda: show_hook_requests(hooks.since(mark)))
    # The hook's expires_in shortens the session (earlier than the token's exp).
    hooks.reset(connect=lambda r: allow(user="brief", expires_in=2))
    c = ctx.client("websocket")
    t0 = time.monotonic()
    f = c.connect({"Authorization": "Bearer " + hs256(claims("brief"))})
    e = c.wait(lambda f: f.command == "ERROR", timeout=6) if connected(f) else None
    ctx.check("[websocket] hook expires_in 2 (token exp 10 min): ERROR 'token expired' at ~2 s and close",
              is_error(e, "token expired") and 1.5 <= e.at - t0 <= 4.5 and c.wait_closed(2),
              lambda: f"after {None if e is None else round(e.at - t0, 2)} s\n{c.transcript()}")
    ctx.close_all()


def test_subscribe_hook(ctx):
    hooks = ctx.hooks
    for kind in ("websocket", "xhr-streaming", "tcp"):
        ok_dest, no_dest = f"/topic/sub.ok.{uid()}", f"/topic/sub.no.{uid()}"
        hooks.reset(connect=lambda r, kind=kind: allow(user=f"sub-{kind}", data={"k": kind}),
                    subscribe=lambda r, no=no_dest: deny("not your room") if r.json.get("destination") == no else allow())
        mark = hooks.mark()
        c = ctx.client(kind)
        f = c.connect()
        if not ctx.check(f"[{kind}] subscribe hook: CONNECTED", connected(f), c.transcript):
            continue
        r1 = c.subscribe(ok_dest, receipt="r1")
        calls = hooks.since(mark, "subscribe")
        req = calls[0].json if calls else {}
        conn_req = hooks.since(mark, "connect")
        ctx.check(f"[{kind}] subscribe hook allow → RECEIPT; request has hook/session/transport/user/data/destination",
                  r1 is not None and r1.command == "RECEIPT" and len(calls) == 1
                  and req.get("destination") == ok_dest and req.get("user") == f"sub-{kind}"
                  and req.get("data") == {"k": kind} and req.get("transport") == TRANSPORT_NAMES[kind]
                  and conn_req and req.get("session") == conn_req[0].json.get("session"),
                  lambda: c.transcript() + "\n" + show_hook_requests(hooks.since(mark)))
        r2 = c.subscribe(ok_dest, receipt="r2")
        n = len(hooks.since(mark, "subscribe", lambda r: r.json.get("destination") == ok_dest))
        ctx.check(f"[{kind}] subscribe hook: second SUBSCRIBE to the same destination answered from the cache",
                  r2 is not None and r2.command == "RECEIPT" and n == 1,
                  lambda: f"hook calls for {ok_dest}: {n}\n{c.transcript()}")
        r3 = c.subscribe(no_dest, receipt="r3")
        ctx.check(f"[{kind}] subscribe hook 403 → ERROR 'permission denied' receipt-id:r3, close",
                  is_error(r3, "permission denied") and r3.headers.get("receipt-id") == "r3" and c.wait_closed(3),
                  c.transcript)
        ctx.close_all()
    # The hook is asked only about what the principal's globs allow; its cache is per session.
    dest = f"/topic/only/{uid()}"
    hooks.reset(connect=lambda r: allow(user="globbed", subscribe=["/topic/only/**"]))
    mark = hooks.mark()
    c = ctx.client("websocket")
    c.connect()
    r = c.subscribe(dest)
    r2 = ctx.client("websocket")
    r2.connect()
    r2 = r2.subscribe(dest)
    n = len(hooks.since(mark, "subscribe", lambda q: q.json.get("destination") == dest))
    ctx.check("[websocket] subscribe hook answers are cached per session: a second session is asked again",
              r is not None and r.command == "RECEIPT" and r2 is not None and r2.command == "RECEIPT" and n == 2,
              lambda: f"hook calls for {dest}: {n}\n{c.transcript()}")
    mark = hooks.mark()
    r = c.subscribe(f"/topic/elsewhere.{uid()}")
    ctx.check("[websocket] SUBSCRIBE outside the principal's globs: ERROR 'permission denied', hook not asked",
              is_error(r, "permission denied") and not hooks.since(mark, "subscribe"),
              lambda: c.transcript() + "\n" + show_hook_requests(hooks.since(mark)))
    ctx.close_all()
    # A SEND right behind a SUBSCRIBE whose hook is slow waits for it (own subscription gets it);
    # a DISCONNECT right behind a slow SEND hook waits too (message published, then RECEIPT).
    hooks.reset(connect=lambda r: allow(user="orderly"), subscribe=lambda r: allow(delay=0.4),
                send=lambda r: allow(delay=0.4))
    for kind in ("websocket", "tcp"):
        c = ctx.client(kind)
        c.connect()
        dest = f"/topic/hooked/ord.{uid()}"
        body = "right behind " + uid()
        c.send_frame("SUBSCRIBE", {"id": "s", "destination": dest})
        c.send(dest, body)
        ctx.check(f"[{kind}] a SEND right behind a SUBSCRIBE with a slow hook reaches that subscription",
                  c.message(body) is not None, c.transcript)
        obs = ctx.observer()
        obs.subscribe(dest)
        last = "last words " + uid()
        c.send(dest, last)
        c.send_frame("DISCONNECT", {"receipt": "bye"})
        rc = c.wait_command("RECEIPT", receipt_id="bye")
        ctx.check(f"[{kind}] a DISCONNECT right behind a SEND with a slow hook: the SEND is published, then RECEIPT",
                  obs.message(last) is not None and rc is not None and c.message(last, timeout=0.01) is not None
                  and c.message(last).at <= rc.at, lambda: c.transcript() + "\n--- observer:\n" + obs.transcript())
        ctx.close_all()
    # A hook failure on SUBSCRIBE (on_failure deny)
    for label, fn in [("500", lambda r: Reply(500, {})), ("malformed JSON", lambda r: Reply(200, raw=b"{"))]:
        hooks.reset(connect=lambda r: allow(user="sub-fail"), subscribe=fn)
        c = ctx.client("websocket")
        c.connect()
        r = c.subscribe(f"/topic/sub.fail.{uid()}")
        ctx.check(f"[websocket] subscribe hook {label} → ERROR 'authorization unavailable', close",
                  is_error(r, "authorization unavailable") and c.wait_closed(3), c.transcript)
    ctx.close_all()


def test_send_hook(ctx, kind, full):
    hooks = ctx.hooks
    user = f"sender-{kind}"
    obs = ctx.observer()
    dest = f"/topic/hooked/{uid()}"
    plain = f"/topic/plain.{uid()}"
    obs.subscribe(dest)
    obs.subscribe(plain)

    def on_send(r):
        body = r.json.get("body", "")
        if body.startswith("rewrite"):
            return allow(body="rewritten " + body)
        if body.startswith("add-header"):
            return allow(headers={"x-shout-id": "42", "perigee-user": "mallory"})
        if body.startswith("drop"):
            return allow(drop=True)
        if body.startswith("framing"):
            return allow(headers={"content-length": "3", "destination": "/topic/elsewhere", "message-id": "forged",
                                  "subscription": "forged"})
        if body.startswith("reject"):
            return deny("no shouting")
        if body.startswith("slow"):
            return allow(delay=0.5)
        return allow()

    hooks.reset(connect=lambda r: allow(user=user), send=on_send)
    c = ctx.client(kind)
    f = c.connect()
    if not ctx.check(f"[{kind}] send hook: CONNECTED", connected(f), c.transcript):
        return
    mark = hooks.mark()
    tag = uid()
    c.send(dest, f"rewrite {tag}")
    m = obs.message(f"rewritten rewrite {tag}")
    req = (hooks.since(mark, "send") or [None])[0]
    ctx.check(f"[{kind}] send hook {{body}}: the subscriber receives the new body (not the old one)",
              m is not None and not obs.message(f"rewrite {tag}", timeout=0.01)
              and m.named("perigee-user") == [user], obs.transcript)
    rj = req.json if req else {}
    ctx.check(f"[{kind}] send hook request: hook/session/transport/user/destination/headers/body",
              rj.get("hook") == "send" and rj.get("destination") == dest and rj.get("user") == user
              and rj.get("body") == f"rewrite {tag}" and rj.get("transport") == TRANSPORT_NAMES[kind]
              and (rj.get("headers") or {}).get("content-type") == "text/plain" and rj.get("session"),
              lambda: show_hook_requests(hooks.since(mark)))
    if full:
        c.send(dest, f"add-header {tag}")
        m = obs.message(f"add-header {tag}")
        ctx.check(f"[{kind}] send hook {{headers}}: x-shout-id:42 added, its perigee-user ignored",
                  m is not None and m.named("x-shout-id") == ["42"] and m.named("perigee-user") == [user],
                  obs.transcript)
        # Headers that are not pass-through (framing, routing) cannot be set by the hook either.
        c.send(dest, f"framing {tag}")
        c.send(dest, f"after-framing {tag}")
        m = obs.message(f"framing {tag}")
        m2 = obs.message(f"after-framing {tag}")
        ctx.check(f"[{kind}] send hook headers content-length/destination/message-id/subscription: ignored "
                  "(body intact, routed as sent, the next frame still parses)",
                  m is not None and m2 is not None and m.headers.get("destination") == dest
                  and m.headers.get("content-length") in (None, str(len(m.body)))
                  and m.headers.get("subscription") != "forged" and m.headers.get("message-id") != "forged",
                  obs.transcript)
        c.send(dest, f"drop {tag}", receipt="dropped")
        rc = c.wait_command("RECEIPT", receipt_id="dropped")
        c.send(dest, f"after-drop {tag}")
        marker = obs.message(f"after-drop {tag}")
        ctx.check(f"[{kind}] send hook {{drop}}: RECEIPT still arrives, the subscriber gets nothing",
                  rc is not None and marker is not None and obs.message(f"drop {tag}", timeout=0.01) is None,
                  lambda: c.transcript() + "\n--- subscriber:\n" + obs.transcript())
        n0 = len(hooks.since(mark, "send"))
        c.send(plain, f"plain {tag}")
        m = obs.message(f"plain {tag}")
        ctx.check(f"[{kind}] SEND outside send_prefixes: delivered, send hook not called",
                  m is not None and len(hooks.since(mark, "send")) == n0
                  and not hooks.since(mark, "send", lambda r: r.json.get("destination") == plain),
                  lambda: show_hook_requests(hooks.since(mark)))
        # Order: a slow hooked SEND, then frames that must wait behind it.
        order = [(dest, f"slow-0 {tag}"), (plain, f"order-1 {tag}"), (dest, f"order-2 {tag}"),
                 (plain, f"order-3 {tag}"), (dest, f"order-4 {tag}")]
        for d, b in order:
            c.send(d, b)
        obs.message(f"order-4 {tag}")
        got = [m.body.decode() for m in obs.messages() if m.body.decode().endswith(tag)
               and m.body.decode().split(" ")[0] in ("slow-0", "order-1", "order-2", "order-3", "order-4")]
        ctx.check(f"[{kind}] frames sent while a send hook is pending keep their order",
                  got == [b for _, b in order], f"sent {[b for _, b in order]}\nreceived {got}")
    if full:
        # A transactional SEND is hooked too (its rewrite shows after COMMIT).
        c.send_frame("BEGIN", {"transaction": "tx"})
        c.send_frame("SEND", {"destination": dest, "transaction": "tx"}, f"rewrite-tx {tag}")
        c.send_frame("COMMIT", {"transaction": "tx"})
        ctx.check(f"[{kind}] a transactional SEND goes through the send hook (rewritten after COMMIT)",
                  obs.message(f"rewritten rewrite-tx {tag}") is not None, obs.transcript)
        # API-key sessions (STOMP or HTTP API) are never hooked.
        n0 = len(hooks.since(mark, "send"))
        obs.send(dest, f"from-backend {tag}")
        r = requests.post(f"{ctx.server.http_url}/api/publish{dest}", data=f"from-api {tag}", timeout=TIMEOUT,
                          headers={"Authorization": "Bearer " + API_KEY})
        ctx.check(f"[{kind}] API-key SENDs (STOMP and HTTP API) to a hooked destination: delivered, no hook call",
                  obs.message(f"from-backend {tag}") is not None and obs.message(f"from-api {tag}") is not None
                  and r.status_code == 202 and len(hooks.since(mark, "send")) == n0,
                  lambda: show_hook_requests(hooks.since(mark)))
    # Reject: ERROR to the sender only; another subscriber gets nothing and stays connected.
    c.send(dest, f"reject {tag}", receipt="rej")
    e = c.wait_command("ERROR")
    ctx.check(f"[{kind}] send hook 403 → ERROR 'send refused' receipt-id:rej, reason in body, sender closed",
              is_error(e, "send refused") and e.headers.get("receipt-id") == "rej"
              and "no shouting" in e.body.decode() and c.wait_closed(3), c.transcript)
    marker = f"after-reject {tag}"
    requests.post(f"{ctx.server.http_url}/api/publish{plain}", data=marker, timeout=TIMEOUT,
                  headers={"Authorization": "Bearer " + API_KEY})
    ctx.check(f"[{kind}] send hook 403: the other subscriber gets nothing and stays connected",
              obs.message(marker) is not None and obs.message(f"reject {tag}", timeout=0.01) is None
              and not obs.is_closed(), obs.transcript)
    ctx.close_all()


def test_send_hook_failures(ctx):
    hooks = ctx.hooks
    obs = ctx.observer()
    dest = f"/topic/hooked/fail.{uid()}"
    obs.subscribe(dest)
    for label, fn in [("500", lambda r: Reply(500, {})),
                      ("malformed JSON", lambda r: Reply(200, raw=b'{"body": "x",')),
                      ("answers after timeout_ms", lambda r: allow(delay=HOOK_TIMEOUT_S + 1.5))]:
        hooks.reset(connect=lambda r: allow(user="failing"), send=fn)
        c = ctx.client("websocket")
        c.connect()
        body = f"never {uid()}"
        t0 = time.monotonic()
        c.send(dest, body, receipt="s1")
        e = c.wait_command("ERROR", timeout=HOOK_TIMEOUT_S + HOOK_MARGIN_S)
        ctx.check(f"[websocket] send hook {label} → ERROR 'authorization unavailable' (body names the hook), "
                  f"close, not published", is_error(e, "authorization unavailable") and "send" in e.body.decode()
                  and e.at - t0 <= HOOK_TIMEOUT_S + HOOK_MARGIN_S and c.wait_closed(3)
                  and obs.message(body, timeout=0.01) is None, c.transcript)
    # Headers from the hook cannot inject header lines for a STOMP 1.0 subscriber either.
    old = ctx.observer("1.0")
    old.subscribe(dest)
    hooks.reset(connect=lambda r: allow(user="hooked"),
                send=lambda r: allow(headers={"x-note": "l1\nperigee-user:mallory", "x-n\nperigee-user": "m"}))
    c = ctx.client("websocket")
    c.connect()
    body = "hook injection " + uid()
    c.send(dest, body)
    m = old.message(body)
    ctx.check("[websocket] send hook headers with newlines: a STOMP 1.0 subscriber sees perigee-user:hooked only",
              m is not None and m.named("perigee-user") == ["hooked"], old.transcript)
    hooks.reset(connect=lambda r: allow(user="u2\nperigee-admin:yes"))
    c = ctx.client("websocket")
    f = c.connect()
    body = "hook user injection " + uid()
    if connected(f):
        c.send(dest, body)
    m = old.message(body) if connected(f) else None
    ctx.check("[websocket] connect hook user with a newline: refused, or no header line injected",
              (f is not None and f.command == "ERROR") or (m is not None and not m.named("perigee-admin")),
              lambda: c.transcript() + "\n--- 1.0 subscriber:\n" + old.transcript())
    # Invalid UTF-8 reaches the hook as U+FFFD; an unchanged message keeps its bytes.
    hooks.reset(connect=lambda r: allow(user="bytes"))
    mark = hooks.mark()
    c = ctx.client("tcp")
    c.connect()
    tag = uid().encode()
    raw = b"\xff\xfe bytes " + tag
    c.send_frame("SEND", {"destination": dest, "content-type": "application/octet-stream"}, raw)
    m = obs.message(raw)
    req = hooks.wait(mark, "send")
    ctx.check("[tcp] send hook: invalid UTF-8 in the body reaches the hook as U+FFFD, the message keeps its bytes",
              m is not None and req is not None and (req.json or {}).get("body") == "\ufffd\ufffd bytes " + tag.decode(),
              lambda: f"{req!r}\n{obs.transcript()}")
    ctx.close_all()


def test_http_api_send_hook(ctx):
    """README: on the publish API the send hook applies to JWT publishers: a refusal is 403, a
    failure 503, a drop 202 with delivered 0; the message carries the token's sub."""
    hooks = ctx.hooks
    obs = ctx.observer()
    dest = f"/topic/hooked/api.{uid()}"
    obs.subscribe(dest)
    tok = hs256(claims("api-jwt"))

    def publish(body):
        return requests.post(f"{ctx.server.http_url}/api/publish{dest}", data=body, timeout=TIMEOUT,
                             headers={"Authorization": "Bearer " + tok, "Content-Type": "text/plain"})

    def on_send(r):
        body = (r.json or {}).get("body", "")
        return {"rewrite": allow(body="rewritten by the hook"), "refuse": deny("no"), "fail": Reply(500, {}),
                "drop": allow(drop=True)}.get(body.split(" ")[0], allow())
    hooks.reset(send=on_send)
    r = publish("rewrite " + uid())
    m = obs.message("rewritten by the hook")
    ctx.check("[http api] JWT publisher: send hook rewrite applies, 202, MESSAGE perigee-user:api-jwt",
              r.status_code == 202 and m is not None and m.named("perigee-user") == ["api-jwt"],
              lambda: f"{r.status_code} {r.text[:200]}\n{obs.transcript()}")
    for word, status in (("refuse", 403), ("fail", 503)):
        r = publish(f"{word} {uid()}")
        ctx.check(f"[http api] JWT publisher: send hook {'403' if word == 'refuse' else '500'} → HTTP {status} JSON",
                  r.status_code == status and "error" in (r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}),
                  f"{r.status_code} {r.text[:200]}")
    r = publish("drop " + uid())
    ctx.check("[http api] JWT publisher: send hook drop → 202 with delivered 0",
              r.status_code == 202 and r.json().get("delivered") == 0, f"{r.status_code} {r.text[:200]}")
    ctx.close_all()


def test_input_limit(ctx):
    """Frames that wait behind a pending send hook are bounded: past 1 MiB, ERROR
    'too much input awaiting authorization' (STOMP/TCP, 80 SENDs of 16 KiB behind a slow hook)."""
    hooks = ctx.hooks
    hooks.reset(connect=lambda r: allow(user="flood"),
                send=lambda r: allow(delay=HOOK_TIMEOUT_S * 0.9) if r.json.get("body") == "first" else allow())
    c = ctx.client("tcp")
    if not ctx.check("[tcp] input limit: CONNECTED", connected(c.connect()), c.transcript):
        return
    dest = f"/topic/hooked/flood.{uid()}"
    c.send(dest, "first")
    chunk = "x" * 16384

    def flood():
        for i in range(80):
            if not c.send_frame("SEND", {"destination": dest}, chunk) or c.is_closed():
                return
    threading.Thread(target=flood, daemon=True).start()
    e = c.wait(lambda f: f.command == "ERROR", timeout=HOOK_TIMEOUT_S + 4)
    ctx.check("[tcp] more than 1 MiB waiting behind a pending send hook → ERROR 'too much input awaiting "
              "authorization', close", is_error(e, "too much input awaiting authorization") and c.wait_closed(3),
              c.transcript)
    ctx.close_all()


def test_origin(ctx):
    """Origin (configured: origins.allowed [ORIGIN]): a foreign Origin gets HTTP 403 on the
    WebSocket handshake and on SockJS requests; allowed ones get CORS headers."""
    evil = "http://evil.perigee.test"
    http = requests.Session()
    http.trust_env = False
    base = ctx.server.http_url
    try:
        with ws_connect(f"ws://127.0.0.1:{ctx.server.port}/stomp", origin=evil, proxy=None, open_timeout=TIMEOUT):
            pass
        ctx.check("[websocket] handshake with a foreign Origin → HTTP 403", False, "the handshake succeeded")
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
        ctx.check("[websocket] handshake with a foreign Origin → HTTP 403 'origin … is not allowed'",
                  e.response.status_code == 403 and f"origin {evil} is not allowed" in body,
                  f"{e.response.status_code} {body!r}")
    except Exception as e:  # noqa: BLE001
        ctx.check("[websocket] handshake with a foreign Origin → HTTP 403", False, repr(e))
    for origin in (ORIGIN, base):
        try:
            with ws_connect(f"ws://127.0.0.1:{ctx.server.port}/stomp", origin=origin, proxy=None,
                            open_timeout=TIMEOUT):
                pass
            ctx.check(f"[websocket] handshake with Origin {origin} (allowed / own) is accepted", True)
        except Exception as e:  # noqa: BLE001
            ctx.check(f"[websocket] handshake with Origin {origin} (allowed / own) is accepted", False, repr(e))
    session = f"{base}/stomp/123/{uid()}"
    r = http.post(session + "/xhr_streaming", headers={"Origin": evil}, timeout=TIMEOUT, stream=True)
    text = r.raw.read(200, decode_content=True).decode("utf-8", "replace") if r.status_code == 403 else ""
    r.close()
    ctx.check("[xhr-streaming] SockJS request with a foreign Origin → HTTP 403 'origin … is not allowed'",
              r.status_code == 403 and f"origin {evil} is not allowed" in text, f"{r.status_code} {text!r}")
    # Every SockJS request is checked, not only the one that opens a session.
    for label, origin in (("foreign", evil), ("same host, other port", f"http://127.0.0.1:{ctx.server.port + 1}"),
                          ("null", "null")):
        for path, method in (("/xhr", "POST"), ("/eventsource", "GET"), ("/jsonp?c=cb", "GET")):
            r = http.request(method, f"{base}/stomp/123/{uid()}{path}", headers={"Origin": origin},
                             timeout=TIMEOUT, stream=True)
            status = r.status_code
            r.close()
            ctx.check(f"[sockjs] {path.split('?')[0][1:]} with a {label} Origin ({origin}) → 403", status == 403,
                      f"got {status}")
    try:
        with ws_connect(f"ws://127.0.0.1:{ctx.server.port}/stomp/123/{uid()}/websocket", origin=evil, proxy=None,
                        open_timeout=TIMEOUT):
            pass
        ctx.check("[sockjs-websocket] handshake with a foreign Origin → 403", False, "the handshake succeeded")
    except InvalidStatus as e:
        ctx.check("[sockjs-websocket] handshake with a foreign Origin → 403", e.response.status_code == 403,
                  str(e.response.status_code))
    # A session opened without Origin: an xhr_send from a foreign origin is refused and not delivered.
    c = ctx.client("xhr-polling", send_http_headers={"Origin": evil})
    f = c.connect(timeout=1.5)
    r = http.post(c.base + "/xhr_send", data=json.dumps(["SEND\ndestination:/topic/shouts\n\nfrom evil\u0000"]),
                  headers={"Origin": evil, "Content-Type": "text/plain"}, timeout=TIMEOUT)
    ctx.check("[xhr-polling] xhr_send from a foreign Origin into an open session → 403, CONNECT never arrives",
              r.status_code == 403 and f is None and not any(x.command == "CONNECTED" for x in c.frames),
              f"xhr_send {r.status_code}; frames:\n{c.transcript()}")
    ctx.close_all()
    r = http.get(f"{base}/stomp/info", headers={"Origin": ORIGIN}, timeout=TIMEOUT)
    ctx.check("[sockjs] /stomp/info with an allowed Origin: Access-Control-Allow-Origin it, -Credentials true",
              r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == ORIGIN
              and r.headers.get("Access-Control-Allow-Credentials") == "true", f"{r.status_code} {dict(r.headers)}")
    r = http.post(f"{base}/api/publish/topic/cors.{uid()}", data="x", timeout=TIMEOUT,
                  headers={"Origin": evil, "Authorization": "Bearer " + API_KEY})
    ctx.check("[http api] a foreign Origin gets no Access-Control-Allow-Origin",
              "Access-Control-Allow-Origin" not in r.headers, f"{r.status_code} {dict(r.headers)}")


# ---------------------------------------------------------------------------- hooks-allow configuration
def test_subscribe_hook_patterns(ctx):
    """With a subscribe hook, pattern subscriptions are refused (the hook judges destinations
    one by one and would never see what `/topic/#` delivers; `hooks.subscribe_patterns` opts
    in). Found in review: a hook refusing /topic/secret let `/topic/*` read it."""
    hooks = ctx.hooks
    hooks.reset(connect=lambda r: allow(user="patterned"), subscribe=lambda r: allow())
    mark = hooks.mark()
    for kind in ("websocket", "xhr-polling", "tcp"):
        c = ctx.client(kind)
        c.connect()
        r = c.subscribe("/topic/#", receipt="p1")
        ctx.check(f"[{kind}] subscribe hook configured: SUBSCRIBE /topic/# → ERROR permission denied, close",
                  is_error(r, "permission denied") and r.headers.get("receipt-id") == "p1" and c.wait_closed(3),
                  c.transcript)
        ctx.close_all()
    n = len(hooks.since(mark, "subscribe"))
    ctx.check("subscribe hook never asked about a refused pattern", n == 0, lambda: f"{n} subscribe hook calls")


def test_pending_per_address(ctx):
    """One client address may have `hooks.max_pending_per_address` hook calls pending; more
    fail closed at once, even with `on_failure: allow` (found in review: a flood of CONNECTs
    starved the pool for everyone, and could force a fail-open)."""
    hooks = ctx.hooks
    hooks.reset(connect=lambda r: allow(delay=1.5, user="slow"))
    clients = [ctx.client("websocket") for _ in range(3)]
    results = [None] * 3

    def go(i):
        results[i] = clients[i].connect(timeout=6)

    started = time.monotonic()
    threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.05)  # a stagger, so that the third CONNECT is the one past the limit
    for t in threads:
        t.join(10)
    refused = [f for f in results if is_error(f, "authorization unavailable")]
    ok = [f for f in results if connected(f)]
    ctx.check("[websocket] 2 hook calls pending per address: the third CONNECT fails closed (on_failure: allow)",
              len(ok) == 2 and len(refused) == 1 and "pending" in (refused[0].body.decode("utf-8", "replace") if refused else ""),
              lambda: "\n".join(c.transcript() for c in clients) + f"\n{time.monotonic() - started:.2f} s")
    ctx.close_all()


def test_on_failure_allow(ctx):
    hooks = ctx.hooks
    hooks.reset(connect=lambda r: Reply(500, {"error": "down"}))
    c, m = anonymous_shout(ctx)
    ctx.check("[websocket] on_failure allow: hook 500, no credentials → CONNECTED as anonymous",
              m is not None and m.named("perigee-user") == [], c.transcript)
    for kind in ("websocket", "xhr-streaming", "tcp"):
        check_accepted(ctx, f"[{kind}] on_failure allow: hook 500, valid JWT → CONNECTED as the token's sub",
                       kind, f"fallback-{kind}", headers={"Authorization": "Bearer " + hs256(claims(f"fallback-{kind}"))})
    hooks.reset(connect=lambda r: allow(user="late", delay=HOOK_TIMEOUT_S + 1.5))
    c = ctx.client("websocket")
    t0 = time.monotonic()
    f = c.connect(timeout=HOOK_TIMEOUT_S + HOOK_MARGIN_S)
    ctx.check("[websocket] on_failure allow: hook timeout → CONNECTED after about timeout_ms",
              connected(f) and f.at - t0 <= HOOK_TIMEOUT_S + HOOK_MARGIN_S, c.transcript)
    hooks.reset(connect=lambda r: allow(user="fwd"))
    for kind in ("websocket", "xhr-streaming"):
        mark = hooks.mark()
        c = ctx.client(kind, http_headers={"X-App-Version": "7.1", "X-Other": "no"})
        f = c.connect({"login": "lou", "passcode": hs256(claims("lou"))})
        req = (hooks.since(mark, "connect") or [None])[0]
        j = (req.json or {}) if req else {}
        sh = j.get("stomp_headers") or {}
        hh = j.get("http_headers") or {}
        ctx.check(f"[{kind}] forward_headers [login, x-app-version]: login and x-app-version forwarded; "
                  "passcode and x-other not", sh.get("login") == "lou" and "passcode" not in sh
                  and hh.get("x-app-version") == "7.1" and "x-other" not in hh,
                  lambda: f"{req!r}\n{c.transcript()}")
    ctx.close_all()
    hooks.reset(connect=lambda r: allow(user="fallback"), subscribe=lambda r: Reply(500, {}),
                send=lambda r: allow(delay=HOOK_TIMEOUT_S + 1.5))
    c = ctx.client("websocket")
    f = c.connect()
    m = echo(c, f, f"/topic/hooked/allow.{uid()}")
    ctx.check("[websocket] on_failure allow: subscribe hook 500 and send hook timeout → subscribed, published unchanged",
              m is not None and m.body.startswith(b"echo ") and m.named("perigee-user") == ["fallback"], c.transcript)
    ctx.close_all()
    hooks.reset(connect=lambda r: deny("still no"))
    check_refused(ctx, "[websocket] on_failure allow: a 403 still refuses", "websocket", "unauthorized",
                  reason="still no")
    ctx.close_all()


# ---------------------------------------------------------------------------- main
def run_group(res, name, server, steps):
    print(f"[auth] configuration '{name}': http={server.port} stomp={server.stomp_port} log {server.log_path}",
          flush=True)
    try:
        server.start()
    except ServerError as e:
        res.check(f"server starts with configuration '{name}'", False, str(e))
        for step_name, _ in steps:
            res.check(f"{name}/{step_name}: not run (no server)", False)
        return
    try:
        for step_name, step in steps:
            print(f"[auth] {name}/{step_name}", flush=True)
            t0 = time.monotonic()
            try:
                step()
            except Exception:  # noqa: BLE001 - one broken step must not hide the others
                res.check(f"{name}/{step_name}: ran to the end", False, traceback.format_exc())
            print(f"[auth] {name}/{step_name}: {time.monotonic() - t0:.1f} s", flush=True)
            if not server.alive():
                res.check(f"server still running after '{name}/{step_name}'", False, server.log_tail())
                break
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "auth"))
    ap.add_argument("--only", default="", help="comma-separated configuration names to run")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    started = time.monotonic()
    keys = Keys(args.out)
    hooks = HookServer()
    only = set(filter(None, args.only.split(",")))
    print(f"[auth] PyJWT {jwt.__version__}; hook server {hooks.url}; output {args.out}", flush=True)

    def server(name, text):
        return PerigeeServer(os.path.join(args.out, f"server-{name}.log"),
                             config=write_config(args.out, name, text))

    groups = []
    s = server("jwt", jwt_config(keys))
    ctx = Ctx(res, s, keys, hooks)
    groups.append(("jwt", s, [
        ("accepted on every transport", lambda: test_jwt_accepted(ctx)),
        ("refused", lambda: test_jwt_refused(ctx)),
        ("http api", lambda: test_http_api_auth(ctx)),
        ("perigee claim narrows", lambda: test_narrowing(ctx)),
        ("sender identity", lambda: test_spoofing(ctx)),
        ("sub injection", lambda: test_sub_injection(ctx)),
        ("hostile claims", lambda: test_hostile_claims(ctx)),
        ("expiry", lambda: test_expiry(ctx)),
    ], ctx))
    s = server("es256", es256_config(keys))
    ctx_es = Ctx(res, s, keys, hooks)
    groups.append(("es256", s, [("ES256", lambda: test_es256(ctx_es))], ctx_es))
    s = server("hooks", hooks_config(hooks))
    ctx_h = Ctx(res, s, keys, hooks)
    groups.append(("hooks", s, [
        ("connect hook allow", lambda: test_connect_hook_allow(ctx_h)),
        ("connect hook refusals", lambda: test_connect_hook_refusals(ctx_h)),
        ("subscribe hook", lambda: test_subscribe_hook(ctx_h)),
        ("send hook websocket", lambda: test_send_hook(ctx_h, "websocket", True)),
        ("send hook xhr-streaming", lambda: test_send_hook(ctx_h, "xhr-streaming", True)),
        ("send hook sockjs-websocket", lambda: test_send_hook(ctx_h, "sockjs-websocket", False)),
        ("send hook tcp", lambda: test_send_hook(ctx_h, "tcp", False)),
        ("send hook failures", lambda: test_send_hook_failures(ctx_h)),
        ("send hook on the HTTP API", lambda: test_http_api_send_hook(ctx_h)),
        ("input limit", lambda: test_input_limit(ctx_h)),
        ("subscribe hook and patterns", lambda: test_subscribe_hook_patterns(ctx_h)),
    ], ctx_h))
    s = server("hooks-busy", f"hooks:\n  connect: {hooks.url}/connect\n  timeout_ms: 5000\n"
                             "  on_failure: allow\n  max_pending_per_address: 2\n")
    ctx_b = Ctx(res, s, keys, hooks)
    groups.append(("hooks-busy", s, [("pending per address", lambda: test_pending_per_address(ctx_b))], ctx_b))
    s = server("hooks-allow", hooks_config(hooks, on_failure="allow", all_hooks=False))
    ctx_a = Ctx(res, s, keys, hooks)
    groups.append(("hooks-allow", s, [("on_failure allow", lambda: test_on_failure_allow(ctx_a))], ctx_a))
    s = server("open", "# no keys, no JWT (an empty file is refused: {} asks for the defaults)\n{}\n")
    ctx_open = Ctx(res, s, keys, hooks)
    groups.append(("open", s, [("keyless publish", lambda: test_open_gateway(ctx_open))], ctx_open))
    s = server("origin", f'origins:\n  allowed: ["{ORIGIN}"]\napi_keys:\n  backend: "{API_KEY}"\n')
    ctx_o = Ctx(res, s, keys, hooks)
    groups.append(("origin", s, [("origin", lambda: test_origin(ctx_o))], ctx_o))

    test_token_crafting(Ctx(res, None, keys, hooks))
    try:
        for name, srv, steps, c in groups:
            if only and name not in only:
                continue
            try:
                run_group(res, name, srv, steps)
            finally:
                c.close_all()
    finally:
        hooks.stop()
    print(f"[auth] done in {time.monotonic() - started:.1f} s", flush=True)
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
