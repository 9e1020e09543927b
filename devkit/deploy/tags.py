"""Tags on the stack and on every taggable resource of its template.

CloudFormation copies a stack's tags onto the resources it creates that support tags, but the template
should say what it is on its own (a dry run, a scanner, a resource imported or kept after its stack
went), so each taggable resource also carries them explicitly: `devkit:app`, `devkit:stage`, and the
user's own from `@tags` in app.arc. A resource type missing from TAGGED gets only the stack's tags.
"""

from __future__ import annotations

from collections.abc import Mapping

APP_TAG = "devkit:app"  # the exact @app name (stack.check_owner reads it on the stack)
STAGE_TAG = "devkit:stage"
STACK_TAG = "devkit:stack"  # the stack only
# Resource type -> how its `Tags` property is written (the CloudFormation resource reference of each).
TAGGED = {
    "AWS::Lambda::Function": "list",
    "AWS::IAM::Role": "list",
    "AWS::Logs::LogGroup": "list",
    "AWS::DynamoDB::Table": "list",
    "AWS::SNS::Topic": "list",
    "AWS::CloudWatch::Alarm": "list",
    "AWS::SQS::Queue": "list",
    "AWS::SecretsManager::Secret": "list",
    "AWS::ApiGatewayV2::Api": "map",
    "AWS::ApiGatewayV2::Stage": "map",
}


def resource_tags(app: str, stage: str, user: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """The tags every resource carries: the kit's two, then the user's (`@tags`, which may not name `devkit:*`)."""
    return {APP_TAG: app, STAGE_TAG: stage, **dict(user)}


def stack_tags(name: str, tags: Mapping[str, str]) -> list[dict[str, str]]:
    """The stack's own tags (CreateChangeSet's `Tags`): the resources' plus `devkit:stack`."""
    return [{"Key": key, "Value": value} for key, value in {STACK_TAG: name, **tags}.items()]


def apply(resources: dict[str, dict], tags: Mapping[str, str]) -> None:
    """Set `Tags` on every taggable resource in `resources` (changed in place), in its type's form."""
    for resource in resources.values():
        form = TAGGED.get(resource["Type"])
        if form == "list":
            resource["Properties"]["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
        elif form == "map":
            resource["Properties"]["Tags"] = dict(tags)
