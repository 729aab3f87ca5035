"""CloudFormation template handling that moto gets wrong.

moto gaps closed
----------------
* `!GetAtt Db.Endpoint.Port` (YAML short form) and `Fn::Sub "${Db.Endpoint.Address}"`
  mean attribute "Endpoint.Port"/"Endpoint.Address" of resource Db, but moto's
  YAML loader and Fn::Sub handling split at *every* dot, so nested attributes
  (Endpoint.Port, ReadEndpoint.Address, MasterUserSecret.SecretArn) resolve to the
  wrong value, and outputs using them fail validation.
* moto adds `Properties: {}` to resources while creating them, mutating the stored
  template, so later diffs see changes that are not there.
* `!Condition Other` (the YAML short form inside `!And`, `!Or`, `!Not`) becomes
  `{"Fn::Condition": "Other"}`, which moto's condition evaluation does not know: the
  condition it is part of comes out wrong (an `!And` with one is never true, a `!Not` of one
  always true). It means `{"Condition": "Other"}`.
* moto orders resources by `DependsOn` only; implicit dependencies (Ref, GetAtt,
  Sub) are resolved lazily, so creation/deletion order and events are wrong and
  stacks cannot be deleted in reverse dependency order.

Why the product relies on it
----------------------------
The tenant templates under infra/ are YAML with short-form intrinsics and read
the database endpoint, port and secret ARN from Fn::GetAtt outputs.

How it hooks into moto
----------------------
Replaces `Stack.parse_template` (staticmethod) and wraps
`moto.cloudformation.parsing.clean_json` (recursive, looked up as a module
global). `topo_order` is used by cfn_engine.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import ValidationError


def dependencies(resource_json: dict[str, Any], names: set[str]) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str):
                    if value in names:
                        found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) and value else str(value).split(".")[0]
                    if target in names:
                        found.add(target)
                    walk(value)
                elif key == "Fn::Sub":
                    template = value[0] if isinstance(value, list) and value else value
                    if isinstance(template, str):
                        for ref in re.findall(r"\$\{([^!}][^}]*)\}", template):
                            target = ref.split(".")[0].strip()
                            if target in names:
                                found.add(target)
                    if isinstance(value, list):
                        walk(value[1:])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(resource_json.get("Properties"))
    walk(resource_json.get("Metadata"))
    depends_on = resource_json.get("DependsOn") or []
    if isinstance(depends_on, str):
        depends_on = [depends_on]
    for dep in depends_on:
        if dep in names:
            found.add(dep)
        else:
            raise ValidationError(
                message=f"Template format error: Unresolved resource dependencies [{dep}] in the Resources block of the template"
            )
    return found


def topo_order(resources: dict[str, Any]) -> list[str]:
    """Resource logical IDs in creation order (dependencies first)."""
    names = set(resources)
    deps = {name: dependencies(resources[name] or {}, names) - {name} for name in resources}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):]
            raise ValidationError(
                message=f"Circular dependency between resources: [{', '.join(sorted(set(cycle)))}]"
            )
        state[name] = 1
        for dep in sorted(deps[name]):
            visit(dep, path + [dep])
        state[name] = 2
        order.append(name)

    for name in resources:
        visit(name, [name])
    return order


def _walk(node: Any, fix: Callable[[dict[str, Any]], None]) -> Any:
    """Applies `fix` to every mapping of a template tree, outermost first; returns the node."""
    if isinstance(node, dict):
        fix(node)
        for child in node.values():
            _walk(child, fix)
    elif isinstance(node, list):
        for child in node:
            _walk(child, fix)
    return node


def _fix_getatt(node: dict[str, Any]) -> None:
    value = node.get("Fn::GetAtt")
    if isinstance(value, list) and len(value) > 2 and all(isinstance(v, str) for v in value):
        node["Fn::GetAtt"] = [value[0], ".".join(value[1:])]
    elif isinstance(value, str) and "." in value:
        node["Fn::GetAtt"] = value.split(".", 1)


def _normalize_getatt(node: Any) -> Any:
    """`!GetAtt Db.Endpoint.Address` means attribute "Endpoint.Address" of Db.

    moto's YAML loader splits the short form at *every* dot (and Fn::Sub's
    "${Db.Endpoint.Address}" the same way), so nested attributes such as
    Endpoint.Port or MasterUserSecret.SecretArn resolve to the wrong thing.
    """
    return _walk(node, _fix_getatt)


def _fix_condition(node: dict[str, Any]) -> None:
    if list(node) == ["Fn::Condition"] and isinstance(node["Fn::Condition"], str):
        node["Condition"] = node.pop("Fn::Condition")


def _normalize_condition(node: Any) -> Any:
    """`!Condition Other` means `{"Condition": "Other"}`; moto's YAML loader makes it `Fn::Condition`."""
    return _walk(node, _fix_condition)


def normalize_template(template_dict: Any) -> Any:
    """moto adds `Properties: {}` to resources without it while creating them (mutating
    the stored template); do the same up front so that diffs compare like with like."""
    if isinstance(template_dict, dict):
        _normalize_getatt(template_dict)
        _normalize_condition(template_dict.get("Conditions"))
        for body in (template_dict.get("Resources") or {}).values():
            if isinstance(body, dict) and "Properties" not in body:
                body["Properties"] = {}
    return template_dict


_original_clean_json = cfn_parsing.clean_json


def clean_json(resource_json: Any, resources_map: Any) -> Any:  # wraps parsing.clean_json (recursive)
    if isinstance(resource_json, dict) and "Fn::GetAtt" in resource_json:
        value = resource_json["Fn::GetAtt"]
        if (isinstance(value, list) and len(value) > 2) or (isinstance(value, str) and "." in value):
            resource_json = _normalize_getatt(dict(resource_json))
    return _original_clean_json(resource_json, resources_map)


_original_parse_template = cfn_models.Stack.parse_template


def parse_template(template: str) -> dict[str, Any]:  # replaces Stack.parse_template
    return normalize_template(_original_parse_template(template))


def effective_parameters(template_dict: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    result = {}
    for key, spec in (template_dict.get("Parameters") or {}).items():
        value = given.get(key, (spec or {}).get("Default"))
        result[key] = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return result




def apply() -> None:
    if getattr(cfn_parsing.clean_json, "__sandbox_patched__", False):
        return
    clean_json.__sandbox_patched__ = True  # type: ignore[attr-defined]
    cfn_parsing.clean_json = clean_json
    cfn_models.Stack.parse_template = staticmethod(parse_template)
