"""The `$connect` Lambda REQUEST authorizer, run as API Gateway runs it for a WebSocket API.

Before `$connect`, for every upgrade (sources below):
- an identity source missing or empty: 401, and the function is not invoked (botocore apigatewayv2
  model, `CreateAuthorizerRequest.IdentitySource`);
- the event: `type` REQUEST, `methodArn` `arn:aws:execute-api:<region>:<account>:<api>/<stage>/$connect`,
  the client's headers (hop-by-hop ones too, with the four API Gateway adds), `multiValueHeaders`, the
  query in both forms when there is one, `stageVariables`, and `$connect`'s `requestContext` (the guide's
  page "Control access to WebSocket APIs with AWS Lambda REQUEST authorizers", its sample input);
- the function fails with the message `Unauthorized`: 401; its policy denies `execute-api:Invoke` on the
  `methodArn`, or allows it nowhere: 403 (guide: "Output from an API Gateway Lambda authorizer");
- it fails otherwise, times out, or returns what API Gateway cannot use (no string `principalId`, a
  policy without statements, a context value that is an object, array or null, or a result over 8 KB,
  the WebSocket quota "AWS Lambda authorizer result size"): 500, the gateway responses
  AUTHORIZER_FAILURE and AUTHORIZER_CONFIGURATION_ERROR;
- allowed: `principalId` and each context value, as strings (the output page shows `"numberKey": "1"`),
  become `requestContext.authorizer` of this connection's every later event.
No cache: WebSocket authorizers have none (`AuthorizerResultTtlInSeconds`: "Supported only for HTTP API
Lambda authorizers"), so every upgrade invokes. One log line per decision; it never shows the token.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace

from aiohttp import web

from devkit import contract
from devkit.authorizers import Authorizer
from devkit.sandbox import events
from devkit.sandbox.iam import Evaluator
from devkit.sandbox.log import Log
from devkit.sandbox.workers import Functions, IntegrationTimeout, InvocationError

RESULT_LIMIT_BYTES = 8 * 1024  # "AWS Lambda authorizer result size: 8 KB" (WebSocket API quotas)
INVOKE = "execute-api:Invoke"


@dataclass(frozen=True)
class Refusal:
    status: int
    why: str  # for the log line: never the token

    def response(self) -> web.Response:
        message = {401: "Unauthorized", 403: "Forbidden"}.get(self.status, "Internal server error")
        return web.json_response({"message": message}, status=self.status)


class Malformed(Exception):
    """The authorizer's result is not one API Gateway can use."""


class SandboxAuthorizer:
    def __init__(self, authorizer: Authorizer, functions: Functions, log: Log, region: str, api_id: str, stage: str, timeout_seconds: float):
        self.authorizer, self.functions, self.log, self.timeout = authorizer, functions, log, timeout_seconds
        self.method_arn = f"arn:aws:execute-api:{region}:{contract.ACCOUNT_ID}:{api_id}/{stage}/$connect"

    async def admit(self, request: web.Request, peer: events.Peer, now_ms: int) -> tuple[events.Peer, web.Response | None]:
        """(the peer, with `authorizer` set when allowed; None) or (the peer, the refusal to answer with)."""
        started = time.perf_counter()
        decision = await self._decide(request, peer, now_ms)
        took = f"{1000 * (time.perf_counter() - started):.1f} ms"
        if isinstance(decision, Refusal):
            self.log.event(f"WS  authorizer {peer.connection_id}: {decision.status}, {decision.why} ({took})")
            return peer, decision.response()
        self.log.event(f"WS  authorizer {peer.connection_id}: allowed principalId={decision['principalId']} ({took})")
        return replace(peer, authorizer=decision), None

    async def _decide(self, request: web.Request, peer: events.Peer, now_ms: int) -> Refusal | dict:
        missing = self.missing_source(request)
        if missing:
            return Refusal(401, f"identity source {missing} missing or empty; not invoked")
        request_id = events.new_id()
        event = self.event(request, peer, request_id, now_ms)
        try:
            result = await self.functions.invoke_within(self.authorizer.function, request_id, event, self.timeout, may_throttle=False)
        except InvocationError as error:
            if error.kind == "error" and error.detail.get("errorMessage") == "Unauthorized":
                return Refusal(401, f"the function answered Unauthorized requestId={request_id}")
            return Refusal(500, f"the function failed ({error}) requestId={request_id}")
        except IntegrationTimeout as timeout:
            return Refusal(500, f"{timeout} requestId={request_id}")
        try:
            principal, policy, context = _parse(result)
            decision = (await asyncio.to_thread(Evaluator, policy)).decision(INVOKE, self.method_arn)
        except Malformed as error:
            return Refusal(500, f"unusable result: {error} requestId={request_id}")
        if decision != "allowed":
            how = "denies" if decision == "denied" else "does not allow"
            return Refusal(403, f"the policy {how} {INVOKE} on {self.method_arn} requestId={request_id}")
        return {"principalId": principal, **context}

    def missing_source(self, request: web.Request) -> str | None:
        """The first identity source the request lacks or sends empty, else None."""
        for source in self.authorizer.identity_sources:
            values = request.headers.getall(source.name, []) if source.where == "header" else request.query.getall(source.name, [])
            if not any(v.strip() for v in values):
                return source.expression
        return None

    def event(self, request: web.Request, peer: events.Peer, request_id: str, now_ms: int) -> dict:
        """The authorizer's input: `$connect`'s event with the hop-by-hop headers kept, plus the rest."""
        connect = events.ws_connect(peer, list(request.headers.items()), list(request.query.items()), request_id, now_ms)
        hop = [(k, v) for k, v in request.headers.items() if k.lower() in events.HOP_BY_HOP]
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in hop + [(k, v) for k, values in connect["multiValueHeaders"].items() for v in values]:
            headers.setdefault(name, value)
            multi.setdefault(name, []).append(value)
        event = {"type": "REQUEST", "methodArn": self.method_arn, "headers": headers, "multiValueHeaders": multi}
        for key in ("queryStringParameters", "multiValueQueryStringParameters"):
            if key in connect:
                event[key] = connect[key]
        event.update(stageVariables={}, requestContext=connect["requestContext"])
        return event


def _parse(result) -> tuple[str, dict, dict[str, str]]:
    """(principalId, policy document, context as strings) from the function's result, or Malformed."""
    if not isinstance(result, dict):
        raise Malformed("not a JSON object")
    size = len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode())
    if size > RESULT_LIMIT_BYTES:
        raise Malformed(f"{size} bytes, over the {RESULT_LIMIT_BYTES}-byte limit")
    principal = result.get("principalId")
    if not isinstance(principal, str) or not principal:
        raise Malformed("no principalId string")
    policy = result.get("policyDocument")
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements or not all(_statement_ok(s) for s in statements):
        raise Malformed("policyDocument needs Statement entries, each with Effect Allow or Deny, Action and Resource")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise Malformed("context is not an object")
    flat: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            flat[key] = str(value)
        else:
            raise Malformed(f"context value {key!r} is not a string, number or boolean")
    return principal, {"Version": "2012-10-17", "Statement": statements}, flat


def _statement_ok(statement) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
        return False
    return all(_strings(statement.get(key)) for key in ("Action", "Resource"))


def _strings(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value))
