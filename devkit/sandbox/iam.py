"""The sandbox's IAM: each function's workers hold credentials that name it, and its calls to the embedded
DynamoDB (judged in moto's process, devkit/sandbox/dynamodb_server.py) and to the Management API (judged
here) must be allowed by its policy, built by devkit/permissions.py as deploy builds its role.

Calls signed with any other key (the sandbox's own table set-up and TTL sweep, tests, a developer's
script) are not restricted.
"""

from __future__ import annotations

import functools
import json
import re

from devkit import contract, permissions
from devkit.manifest import Function, Manifest

KEY_PREFIX = "sandbox-"  # an access key id `sandbox-<function id>` names the calling function
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def access_key_id(function: Function) -> str:
    """The access key id `function`'s workers sign with."""
    return KEY_PREFIX + function.id


def caller_key(authorization: str) -> str | None:
    """The access key id in a SigV4 `Authorization` header, or None."""
    found = _CREDENTIAL.search(authorization)
    return found[1] if found else None


class SandboxIam:
    """Each function's policy and principal, the Management API's check, and the log line per denial."""

    def __init__(self, manifest: Manifest, arns: permissions.LocalArns, function_name):
        self.manifest, self.arns, self.function_name = manifest, arns, function_name
        self.functions = {access_key_id(f): f for f in manifest.functions}
        self._evaluators: dict[str, Evaluator] = {}

    def use(self, manifest: Manifest) -> None:
        """Judge by `manifest`'s declarations from now on (a config.arc changed; same functions)."""
        self.manifest = manifest
        self.functions = {access_key_id(f): f for f in manifest.functions}
        self._evaluators.clear()

    def principal(self, function: Function) -> str:
        """The assumed-role ARN AWS names in a denial: role `<function name>-role`, session the function."""
        name = self.function_name(function)
        return f"arn:{permissions.PARTITION}:sts::{contract.ACCOUNT_ID}:assumed-role/{name}-role/{name}"

    def policies(self) -> str:
        """What moto's process needs to judge DynamoDB calls, as JSON: per access key id, the
        function's id, principal and policy document."""
        return json.dumps(
            {
                "region": self.manifest.aws.region,
                "account": contract.ACCOUNT_ID,
                "functions": {
                    key: {"function": f.id, "principal": self.principal(f), "policy": permissions.policy(f, self.arns)} for key, f in self.functions.items()
                },
            }
        )

    def evaluator(self, function: Function) -> Evaluator:
        if function.id not in self._evaluators:
            self._evaluators[function.id] = Evaluator(permissions.policy(function, self.arns))
        return self._evaluators[function.id]

    def management_denied(self, authorization: str, method: str, connection_id: str) -> str | None:
        """The log line when the caller's policy does not allow `method @connections/{id}`, else None."""
        function = self.functions.get(caller_key(authorization) or "")
        if function is None:
            return None
        resource = self.arns.management_api(method, connection_id)
        if self.evaluator(function).allows(permissions.MANAGE_CONNECTIONS, resource):
            return None
        return self.denial_line(function.id, permissions.MANAGE_CONNECTIONS, resource)

    def denial_line(self, function_id: str, action: str, resource: str) -> str:
        """One line for the sandbox log: who, what, on what, and the declaration that would allow it."""
        function = next(f for f in self.manifest.functions if f.id == function_id)
        decision = self.evaluator(function).decision(action, resource)  # by what it declares now
        if decision == "allowed":
            why = "its config.arc, reloaded since, now allows it"
        elif decision == "denied":
            why = f"an explicit Deny in a statements file named under @permissions in {_config(function)} denies it"
        else:
            why = permissions.hint(function, action, resource, self.arns)
        return f"IAM denied {function.route_key} ({function.id}): {action} on {resource}; {why}"


def _config(function: Function) -> str:
    """src/<kind>/<name>/config.arc"""
    return str((function.source_dir / "config.arc").relative_to(function.source_dir.parents[2]))


class Evaluator:
    """One policy document, judged as IAM judges an identity-based policy (the IAM user guide's "Policy
    evaluation logic": an explicit Deny wins, else any Allow allows, else the call is implicitly denied).

    Each statement applies when its `Action` matches (or its `NotAction` does not) and its `Resource`
    matches (or its `NotResource` does not). Patterns are IAM's globs: `*` any characters, `?` one,
    everything else literal; action names compare case-insensitively, resources exactly. Conditions
    are not evaluated: a statement applies as if its conditions held (an Allow allows, a Deny denies).
    Standard library only: the sandbox's own process judges Management API calls with it and never
    imports moto (about 30 MB).
    """

    def __init__(self, document: dict):
        statements = document["Statement"]
        # Decisions are cached per evaluator: DynamoDB calls name the same few tables again and again.
        self.decision = functools.lru_cache(maxsize=4096)(self._decide)
        self._statements = [self._prepare(s) for s in _listed(statements)]

    @staticmethod
    def _prepare(statement: dict) -> tuple[bool, re.Pattern, bool, re.Pattern, bool]:
        """(is a Deny, action pattern, NotAction, resource pattern, NotResource)."""
        not_action, not_resource = "NotAction" in statement, "NotResource" in statement
        actions = _pattern(statement["NotAction" if not_action else "Action"], re.IGNORECASE)
        resources = _pattern(statement["NotResource" if not_resource else "Resource"], 0)
        return statement["Effect"] == "Deny", actions, not_action, resources, not_resource

    def _decide(self, action: str, resource: str) -> str:
        """'allowed', 'denied' (an explicit Deny) or 'implicit' (no statement allows it)."""
        allowed = False
        for deny, actions, not_action, resources, not_resource in self._statements:
            if (actions.fullmatch(action) is None) != not_action or (resources.fullmatch(resource) is None) != not_resource:
                continue  # the statement does not apply to this action on this resource
            if deny:
                return "denied"
            allowed = True
        return "allowed" if allowed else "implicit"

    def allows(self, action: str, resource: str) -> bool:
        return self.decision(action, resource) == "allowed"


def _listed(value) -> list:
    return [value] if isinstance(value, str | dict) else list(value)


def _pattern(globs, flags: int) -> re.Pattern:
    """One regular expression matching any of IAM's `globs` (`*`: any characters, `?`: one)."""
    return re.compile("|".join(_glob(g) for g in _listed(globs)), flags | re.DOTALL)


def _glob(pattern: str) -> str:
    """An IAM glob as a regular expression."""
    return ".*".join(re.escape(part).replace(r"\?", ".") for part in pattern.split("*"))


def denial_message(principal: str, action: str, resource: str, decision: str) -> str:
    """AWS's words for a denied call (the AccessDeniedException message)."""
    why = "with an explicit deny in an identity-based policy" if decision == "denied" else f"because no identity-based policy allows the {action} action"
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
