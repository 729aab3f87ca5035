"""Change sets that say, per resource, whether an update modifies or replaces it.

moto gap closed
---------------
moto's DescribeChangeSet lists `Action: Modify` for a changed resource but never
fills `Replacement`, `Scope` or `Details` (cfn_change_sets sets `Replacement:
False` for every modification). CloudFormation decides per property, from each
resource type's documented "Update requires" (No interruption / Some
interruptions / Replacement): an update that changes a DB instance's
`DBInstanceClass` modifies it in place, one that changes its `Engine` replaces it.
A resource whose Ref or GetAtt target is replaced is modified too, evaluated
`Dynamic`, because the new physical ID is unknown until the update runs.

Why the product relies on it
----------------------------
`tenantctl tenant diff` (src/client/tenant-diff.ts) shows a re-provision's change
set before anything runs, with replacements flagged: a replaced database is a new,
empty database. A release carrying the tenant template (src/shared/release/stack-change.ts)
refuses a change set that replaces a stateful resource, from its `Replacement`.

How it hooks into moto
----------------------
Wraps `ChangeSet.diff` (cfn_change_sets' parameter-aware one). Each `Modify` is
compared property by property: the old properties (the stack's resource JSON with
its parameter values) against the new ones (the change set's template with its
parameters), with `Ref`s to parameters, `Fn::Sub` `${Param}` and `Fn::Join`
resolved statically; references to resources stay symbolic. Each changed
property becomes a `Details` entry (`Target.Attribute` `Properties`, or `Tags` for
tags; `Name`; `RequiresRecreation` `Never` / `Conditionally` / `Always` from
UPDATE_BEHAVIOUR below; `Evaluation` `Static`; `ChangeSource`
`DirectModification` when the template's text changed, `ParameterReference` with
the parameter as `CausingEntity` otherwise). `Replacement` is `True` when any
detail is `Always`, `Conditional` when any is `Conditionally`, else `False`.
Resources that reference a replaced one get `Dynamic` details
(`ResourceReference` / `ResourceAttribute`, causing entity `Name` or `Name.Attr`),
repeated until no more are found.

What it does not know
---------------------
Only the resource types of the tenant templates are in the table; a property of
any other type, or one the table does not list for a listed type, counts as
`Conditionally` (CloudFormation's answer when it cannot tell statically). The
interruption level (No interruption vs Some interruptions) is not part of
CloudFormation's API either: both are `RequiresRecreation: Never`. Conditions
(`Fn::If`) are compared as written, not evaluated; `BeforeValue`/`AfterValue`
(IncludePropertyValues) are not produced; and the decisions of a few properties
that AWS documents as depending on other values (a DB instance's
`DBSnapshotIdentifier`, `AllocatedStorage` on some engines) are `Conditionally`.
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation import models as cfn_models

from .cfn_engine import _physical_id
from .cfn_templates import effective_parameters, normalize_template

NEVER, CONDITIONALLY, ALWAYS = "Never", "Conditionally", "Always"

# Per resource type: properties whose change requires replacement ("Update requires:
# Replacement" in the CloudFormation resource reference), those that depend on other values
# ("Conditional"), and the rest (No interruption / Some interruptions; noted where "Some").
UPDATE_BEHAVIOUR: dict[str, dict[str, Any]] = {
    "AWS::RDS::DBCluster": {
        ALWAYS: {"Engine", "EngineMode", "DBClusterIdentifier", "DatabaseName", "MasterUsername", "StorageEncrypted",
                 "KmsKeyId", "DBSubnetGroupName", "AvailabilityZones", "SnapshotIdentifier", "SourceDBClusterIdentifier",
                 "RestoreType", "UseLatestRestorableTime", "RestoreToTime", "SourceRegion"},
        CONDITIONALLY: {"GlobalClusterIdentifier"},
        "some_interruptions": {"DBClusterInstanceClass", "EngineVersion"},
    },
    "AWS::RDS::DBInstance": {
        ALWAYS: {"Engine", "DBInstanceIdentifier", "DBClusterIdentifier", "DBName", "MasterUsername", "CharacterSetName",
                 "NcharCharacterSetName", "KmsKeyId", "StorageEncrypted", "SourceDBInstanceIdentifier", "SourceRegion",
                 "DBSubnetGroupName", "Timezone"},
        CONDITIONALLY: {"DBSnapshotIdentifier", "AllocatedStorage", "SourceDBClusterIdentifier"},
        "some_interruptions": {"DBInstanceClass", "EngineVersion", "DBParameterGroupName", "AvailabilityZone",
                               "CACertificateIdentifier", "StorageType", "Iops", "MultiAZ", "LicenseModel"},
    },
    "AWS::RDS::DBSubnetGroup": {ALWAYS: {"DBSubnetGroupName"}},
    "AWS::EC2::SecurityGroup": {ALWAYS: {"GroupDescription", "GroupName", "VpcId"}},
    # Every property of an ingress rule but its description identifies the rule.
    "AWS::EC2::SecurityGroupIngress": {"all_but": {"Description"}},
    "AWS::S3::Bucket": {ALWAYS: {"BucketName", "ObjectLockEnabled"}},
    "AWS::S3::BucketPolicy": {ALWAYS: {"Bucket"}},
    "AWS::IAM::Role": {ALWAYS: {"RoleName", "Path"}},
    "AWS::SSM::Parameter": {ALWAYS: {"Name"}},
    "AWS::CloudWatch::Alarm": {ALWAYS: {"AlarmName"}},
    "AWS::ElasticLoadBalancingV2::TargetGroup": {
        ALWAYS: {"Name", "Port", "Protocol", "ProtocolVersion", "VpcId", "TargetType", "IpAddressType"},
    },
    "AWS::ElasticLoadBalancingV2::ListenerRule": {ALWAYS: {"ListenerArn"}},
    "AWS::Logs::LogGroup": {ALWAYS: {"LogGroupName", "LogGroupClass"}},
}


def requires_recreation(resource_type: str, prop: str) -> str:
    behaviour = UPDATE_BEHAVIOUR.get(resource_type)
    if behaviour is None:
        return CONDITIONALLY
    if prop == "Tags":
        return NEVER
    if "all_but" in behaviour:
        return NEVER if prop in behaviour["all_but"] else ALWAYS
    if prop in behaviour.get(ALWAYS, set()):
        return ALWAYS
    if prop in behaviour.get(CONDITIONALLY, set()):
        return CONDITIONALLY
    return NEVER


_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def resolve_static(value: Any, params: dict[str, str]) -> Any:
    """Parameters substituted; references to resources and attributes left as written."""
    if isinstance(value, list):
        return [resolve_static(v, params) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str) and arg in params:
            return params[arg]
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
            if isinstance(text, str):
                extra = {k: resolve_static(v, params) for k, v in (extra or {}).items()}
                def sub(m: re.Match[str]) -> str:
                    name = m.group(1)
                    if name in extra and isinstance(extra[name], str):
                        return extra[name]
                    return params[name] if name in params else m.group(0)
                resolved = _SUB_VAR.sub(sub, text)
                return resolved if not _SUB_VAR.search(resolved) and not extra else {"Fn::Sub": [resolved, extra] if extra else resolved}
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = resolve_static(arg[1], params)
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return str(arg[0]).join(parts)
            return {"Fn::Join": [arg[0], parts]}
    return {k: resolve_static(v, params) for k, v in value.items()}


def references(value: Any) -> set[str]:
    """Names a value refers to: `Ref` targets, `Fn::GetAtt` targets as `Name.Attr`, `${X}` in `Fn::Sub`."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                found.add(".".join(str(p) for p in parts))
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                if isinstance(text, str):
                    found |= {m.group(1) for m in _SUB_VAR.finditer(text)}
                found |= references(arg if not isinstance(arg, str) else [])
            else:
                found |= references(arg)
    return found


def _detail(attribute: str, name: str | None, recreation: str, evaluation: str, source: str,
            causing: str | None) -> dict[str, Any]:
    target: dict[str, Any] = {"Attribute": attribute, "RequiresRecreation": recreation}
    if name is not None:
        target["Name"] = name
    detail: dict[str, Any] = {"Target": target, "Evaluation": evaluation, "ChangeSource": source}
    if causing is not None:
        detail["CausingEntity"] = causing
    return detail


def _replacement(details: list[dict[str, Any]]) -> str:
    recreations = {d["Target"]["RequiresRecreation"] for d in details}
    return "True" if ALWAYS in recreations else "Conditional" if CONDITIONALLY in recreations else "False"


def property_details(resource_type: str, old_json: dict[str, Any], new_json: dict[str, Any],
                     old_params: dict[str, str], new_params: dict[str, str]) -> list[dict[str, Any]]:
    old_props = old_json.get("Properties") or {}
    new_props = new_json.get("Properties") or {}
    changed_params = {k for k in set(old_params) | set(new_params) if old_params.get(k) != new_params.get(k)}
    details = []
    for prop in sorted(set(old_props) | set(new_props)):
        before, after = old_props.get(prop), new_props.get(prop)
        if resolve_static(before, old_params) == resolve_static(after, new_params):
            continue
        attribute, name = ("Tags", None) if prop == "Tags" else ("Properties", prop)
        recreation = requires_recreation(resource_type, prop)
        if before != after:
            details.append(_detail(attribute, name, recreation, "Static", "DirectModification", None))
        else:
            for param in sorted(references(after) & changed_params):
                details.append(_detail(attribute, name, recreation, "Static", "ParameterReference", param))
    return details


def reference_details(resource_type: str, new_json: dict[str, Any], replaced: set[str]) -> list[dict[str, Any]]:
    details = []
    for prop, value in sorted((new_json.get("Properties") or {}).items()):
        for ref in sorted(references(value)):
            target = ref.split(".", 1)[0]
            if target not in replaced:
                continue
            attribute, name = ("Tags", None) if prop == "Tags" else ("Properties", prop)
            source = "ResourceAttribute" if "." in ref else "ResourceReference"
            details.append(_detail(attribute, name, requires_recreation(resource_type, prop), "Dynamic", source, ref))
    return details


_base_diff = None


def change_set_diff(self: Any) -> list[Any]:  # wraps ChangeSet.diff
    changes = _base_diff(self)  # type: ignore[misc]
    if self.change_set_type != "UPDATE":
        return changes
    stack = self.stack
    old_resources = dict(stack.resource_map._resource_json_map)
    new_template = normalize_template(self.template_dict)
    new_resources = new_template.get("Resources") or {}
    old_params = effective_parameters(stack.template_dict or {}, stack.parameters or {})
    new_params = effective_parameters(new_template, self.parameters or {})

    by_name = {c.logical_resource_id: c for c in changes}
    for change in changes:
        if change.action != "Modify":
            continue
        name = change.logical_resource_id
        details = property_details(change.resource_type, old_resources.get(name) or {}, new_resources.get(name) or {},
                                   old_params, new_params)
        change.details = details
        change.replacement = _replacement(details) if details else "False"
        change.scope = sorted({d["Target"]["Attribute"] for d in details}) or ["Properties"]

    # A replaced resource gets a new physical ID: whatever refers to it is modified too.
    replaced = {c.logical_resource_id for c in changes if c.action == "Modify" and c.replacement == "True"}
    while True:
        grew = False
        for name, body in new_resources.items():
            if name not in old_resources:
                continue
            extra = reference_details(body.get("Type", ""), body, replaced)
            if not extra:
                continue
            change = by_name.get(name)
            if change is None:
                change = cfn_models.Change(action="Modify", logical_resource_id=name, resource_type=body.get("Type", ""))
                change.physical_resource_id = _physical_id(stack.resource_map._parsed_resources.get(name))
                change.details = []
                changes.append(change)
                by_name[name] = change
            known = {repr(d) for d in change.details}
            added = [d for d in extra if repr(d) not in known]
            if not added:
                continue
            change.details = change.details + added
            change.replacement = _replacement(change.details)
            change.scope = sorted({d["Target"]["Attribute"] for d in change.details})
            if change.replacement == "True" and name not in replaced:
                replaced.add(name)
                grew = True
        if not grew:
            break
    return changes


def apply() -> None:
    global _base_diff
    if getattr(cfn_models.ChangeSet.diff, "__sandbox_patched__", None) == __name__:
        return
    _base_diff = cfn_models.ChangeSet.diff
    change_set_diff.__sandbox_patched__ = __name__  # type: ignore[attr-defined]
    cfn_models.ChangeSet.diff = change_set_diff
