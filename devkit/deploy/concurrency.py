"""Reserved concurrency per function: what `@aws concurrency` declares, else production's default.

Reserved concurrency is both a floor and a ceiling: the function always has that many executions
available, and never runs more at once, so a stalled dependency cannot spread into the account's
whole pool. docs/deploy.md (Concurrency) explains the numbers and what to do on an account whose quota
is lower than AWS's default of 1,000.
"""

from __future__ import annotations

from devkit.manifest import UNRESERVED, Function

# Production's reservation for each function that declares none. An app of six functions reserves 300 of the 900
# an account of 1,000 may reserve (AWS keeps 100 unreserved). Each function then serves its route's
# stage limit of 100 requests a second while calls average up to 0.5 s, and a stall is bounded at 50
# executions per function instead of the account's 1,000.
PRODUCTION_RESERVED = 50


def reserved(function: Function, production: bool) -> int | None:
    """The function's ReservedConcurrentExecutions, or None for none (Lambda's unreserved pool)."""
    if function.concurrency == UNRESERVED:
        return None
    if function.concurrency is not None:
        return function.concurrency
    return PRODUCTION_RESERVED if production else None
