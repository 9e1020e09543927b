"""Who is connected: short-lived signed tokens (JWT, HS256) the page gets and presents on `$connect`.

The page route mints one per visit for a guest identity (`guest-<8 hex>`); the page offers it as the
second WebSocket subprotocol, after `chat` (browsers cannot set other headers on a handshake, and a
subprotocol stays out of URLs and access logs); `$connect` answers with `chat` only, so the token is
never echoed. The `$connect` authorizer (src/ws/authorize) checks signature, expiry and audience (the
app's WebSocket URL); `$connect` checks again when no authorizer ran (Architect's sandbox has none).

PyJWT does the JOSE work: maintained, HS256 with the standard library alone (no native wheel to package
for arm64), and `decode()` takes an allow-list of algorithms (no `alg: none`, no algorithm confusion)
and requires `exp`, `aud` and the other claims named. The key is the secret `signing-key`, which the
stack and the sandbox generate (`ARC_SECRET_SIGNING_KEY` names it); under Architect, which has no
Secrets Manager, the `SIGNING_KEY` variable from the project's own uncommitted `.env` holds it.
"""

import os
import re
import secrets
import time

import jwt

from shared import config

PROTOCOL = "chat"  # the subprotocol the page speaks; the token travels next to it
LIFETIME_SECONDS = 15 * 60  # checked once, on `$connect`; a page reloads for a new one
MAX_TOKEN_LENGTH = 2048  # a real one is about 250 characters
ALGORITHM = "HS256"
_GUEST = re.compile(r"^guest-[0-9a-f]{8}$")
_key: bytes | None = None


class Refused(Exception):
    """The handshake carries no usable token; `str()` says why (never the token itself)."""


def signing_key() -> bytes:
    """The secret's value, read once per cold start through the function's `secret signing-key` grant."""
    global _key
    if _key is None:
        name = os.environ.get("ARC_SECRET_SIGNING_KEY")
        if name:
            import boto3  # here: only the functions that sign or verify pay for it

            value = boto3.client("secretsmanager", region_name=config.region()).get_secret_value(SecretId=name)["SecretString"]
        else:
            value = os.environ.get("SIGNING_KEY", "")
        if len(value) < 32:
            raise config.ConfigError("no signing key: ARC_SECRET_SIGNING_KEY names none, and SIGNING_KEY (Architect) is unset or shorter than 32 characters")
        _key = value.encode()
    return _key


def audience() -> str:
    """Whom a token is for: this deployment's WebSocket API."""
    return config.wss_url()


def mint(now: float | None = None) -> tuple[str, str]:
    """(token, guest name) for a new visitor."""
    now = time.time() if now is None else now
    name = f"guest-{secrets.token_hex(4)}"
    claims = {"sub": name, "name": name, "aud": audience(), "iat": int(now), "exp": int(now) + LIFETIME_SECONDS}
    return jwt.encode(claims, signing_key(), algorithm=ALGORITHM), name


def offered_token(multi_value_headers: dict | None, headers: dict | None) -> str:
    """The one token a handshake offers as `Sec-WebSocket-Protocol: chat, <token>`, or Refused."""
    values = [v for k, vs in (multi_value_headers or {}).items() if k.lower() == "sec-websocket-protocol" for v in vs]
    if not values:
        values = [v for k, v in (headers or {}).items() if k.lower() == "sec-websocket-protocol"]
    offered = [p.strip() for value in values for p in value.split(",")]
    others = [p for p in offered if p != PROTOCOL]
    if PROTOCOL not in offered or len(offered) != 2 or len(others) != 1:
        raise Refused(f"expected Sec-WebSocket-Protocol '{PROTOCOL}, <token>', got {len(offered)} value(s)")
    if not others[0] or len(others[0]) > MAX_TOKEN_LENGTH:
        raise Refused(f"the token is empty or longer than {MAX_TOKEN_LENGTH} characters")
    return others[0]


def verify(token: str) -> dict:
    """The token's claims when its signature, expiry and audience hold, else Refused."""
    try:
        claims = jwt.decode(token, signing_key(), algorithms=[ALGORITHM], audience=audience(), options={"require": ["exp", "iat", "aud", "sub"]})
    except jwt.InvalidTokenError as problem:
        raise Refused(f"invalid token: {type(problem).__name__}") from None
    if not isinstance(claims.get("name"), str) or not _GUEST.match(claims["name"]):
        raise Refused("invalid token: no guest name")
    return claims


def identify(event: dict) -> dict:
    """The claims of the token a `$connect` (or authorizer) event carries, else Refused."""
    return verify(offered_token(event.get("multiValueHeaders"), event.get("headers")))


def offers_protocol(event: dict) -> bool:
    """True when the handshake offered the `chat` subprotocol, which `$connect` must then name."""
    headers = event.get("headers") or {}
    offered = next((v for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), "")
    return PROTOCOL in (p.strip() for p in offered.split(","))


def sender_name(event: dict) -> str | None:
    """Who sent this message: the name the authorizer put in `requestContext.authorizer`; None without one."""
    name = ((event.get("requestContext") or {}).get("authorizer") or {}).get("name")
    return name if isinstance(name, str) else None
