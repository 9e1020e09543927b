"""Hot reload of the app's configuration: what an edit to app.arc or a config.arc changes, and whether
the running sandbox can apply it.

A function's settings (`@permissions`, timeout, memory, ...) apply live: the sandbox judges its calls
by the new policy and restarts its workers. What changes the APIs or the database (routes added or
removed, tables, the app's name or region) needs a restart, and `compare` names it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from devkit.manifest import Function, Manifest

# Function fields, as the log names them; anything else that differs is "settings".
SHOWN = {"permissions": "@permissions", "timeout": "timeout", "memory": "memory"}


@dataclass(frozen=True)
class Change:
    restart: tuple[str, ...]  # what only a restart applies, each said in a few words
    functions: dict[str, Function]  # function id -> its new declaration, for those that changed


def compare(old: Manifest, new: Manifest) -> Change:
    """What differs between the running manifest and the edited one."""
    restart = []
    if new.app != old.app:
        restart.append(f"@app {old.app} -> {new.app}")
    if new.aws.region != old.aws.region:
        restart.append(f"region {old.aws.region} -> {new.aws.region}")
    before, after = {f.id: f for f in old.functions}, {f.id: f for f in new.functions}
    added = [after[i].route_key for i in after if i not in before]
    removed = [before[i].route_key for i in before if i not in after]
    if added:
        restart.append("new route(s) " + ", ".join(added))
    if removed:
        restart.append("removed route(s) " + ", ".join(removed))
    if new.tables != old.tables:
        restart.append("@tables")
    changed = {i: f for i, f in after.items() if i in before and f != before[i]}
    return Change(tuple(restart), changed)


def described(old: Function, new: Function) -> str:
    """What changed in one function, e.g. `@permissions, timeout 10 -> 20 s`."""
    parts = []
    for field in fields(Function):
        was, now = getattr(old, field.name), getattr(new, field.name)
        if was == now:
            continue
        if field.name == "timeout":
            parts.append(f"timeout {was} -> {now} s")
        elif field.name == "memory":
            parts.append(f"memory {was} -> {now} MB")
        else:
            parts.append(SHOWN.get(field.name, field.name.replace("_", "-")))
    return ", ".join(parts)
