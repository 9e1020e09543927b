"""Tables kept by a production destroy, and taking them back into the next production stack.

A protected stage's tables outlive its stack (DeletionPolicy Retain, deletion protection). CloudFormation
named each `<Stack>-<LogicalId>-<suffix>`; a new stack would create a second, empty table beside it.
So before a protected stack is created, `kept_tables` looks for such tables; the deploy then refuses
with one line (`refusal`) unless asked to `--adopt`, which imports them (`import_tables`: a change set
of type IMPORT holding just those tables) before the ordinary change set adds everything else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from devkit.deploy import stack

TABLE_TYPE = "AWS::DynamoDB::Table"


def kept_tables(dynamodb, name: str, document: dict) -> dict[str, str]:
    """Logical id -> name of each existing table named as stack `name` named its table of that logical id.

    Only tables whose key schema is the template's are returned; a table of the right name and another
    key schema raises DeployError (importing it would make the next update replace it)."""
    wanted = {logical: resource for logical, resource in document["Resources"].items() if resource["Type"] == TABLE_TYPE}
    found: dict[str, str] = {}
    for page in dynamodb.get_paginator("list_tables").paginate():
        for table in page["TableNames"]:
            for logical, resource in wanted.items():
                if table.startswith(f"{name}-{logical}-") and logical not in found:
                    schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
                    if _keys(schema) != _keys(resource["Properties"]["KeySchema"]):
                        raise stack.DeployError(
                            f"table {table}, kept from an earlier {name}, has another key schema than "
                            f"{logical} in app.arc: export its data and delete it, or restore the old keys"
                        )
                    found[logical] = table
    return found


def _keys(schema: list[dict]) -> set[tuple[str, str]]:
    return {(key["AttributeName"], key["KeyType"]) for key in schema}


def refusal(name: str, kept: dict[str, str], stage: str) -> str:
    """The one line a deploy ends with when it found kept tables and was not asked to adopt them."""
    tables = ", ".join(f"{table} ({logical})" for logical, table in sorted(kept.items()))
    return (
        f"stack {name} does not exist, but its tables from an earlier deploy do: {tables}; a new stack would start "
        f"empty tables beside them. To take them into the new stack: python -m devkit deploy --stage {stage} --adopt"
    )


def import_template(document: dict, kept: dict[str, str]) -> dict:
    """The template of the IMPORT change set: the kept tables' resources alone, as the full template has them."""
    return {
        "AWSTemplateFormatVersion": document["AWSTemplateFormatVersion"],
        "Description": document["Description"],
        "Resources": {logical: document["Resources"][logical] for logical in sorted(kept)},
    }


def import_tables(
    cfn,
    name: str,
    document: dict,
    kept: dict[str, str],
    tags: list[dict[str, str]],
    on_event: Callable[[stack.StackEvent], None] = lambda e: None,
    on_wait: Callable[[], None] = lambda: None,
    poll_seconds: float = stack.POLL_SECONDS,
) -> str:
    """Create stack `name` holding just the kept tables (CloudFormation resource import); its final status."""
    change_set = cfn.create_change_set(
        StackName=name,
        ChangeSetName=f"devkit-adopt-{int(time.time())}",
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps(import_template(document, kept)),
        Tags=tags,
        ResourcesToImport=[
            {"ResourceType": TABLE_TYPE, "LogicalResourceId": logical, "ResourceIdentifier": {"TableName": table}} for logical, table in sorted(kept.items())
        ],
    )
    described = stack.wait_for_change_set(cfn, change_set["Id"], on_wait, poll_seconds)
    if described["Status"] == "FAILED":
        raise stack.DeployError(f"CloudFormation refused to import the kept tables: {described.get('StatusReason', '')}")
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    final = stack.wait_for_stack(cfn, change_set["StackId"], set(), on_event, on_wait, poll_seconds)
    if final.status != "IMPORT_COMPLETE":
        raise stack.DeployError(f"importing the kept tables into {name} ended {final.status}", final.failures, final.status == "IMPORT_ROLLBACK_COMPLETE")
    return final.status
