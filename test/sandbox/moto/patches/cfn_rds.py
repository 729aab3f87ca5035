"""CloudFormation support for Aurora: AWS::RDS::DBCluster, and a working AWS::RDS::DBInstance.

moto gaps closed
----------------
* moto's CloudFormation has no model for `AWS::RDS::DBCluster`: the resource is
  skipped with a warning, `Ref`/`Fn::GetAtt` on it resolve to nothing.
* moto's `AWS::RDS::DBInstance` ignores `DBClusterIdentifier` (an Aurora writer
  becomes a standalone instance, or fails), expects `DBSubnetGroupName` to be a
  Ref'd object, defaults `Port` to 3306, and has no update handler, so a stack
  update that changes `DBInstanceClass` silently does nothing.
* DeletionPolicy Snapshot (the AWS default for DBCluster and for non-Aurora
  DBInstance) is not honoured.
* moto deletes a stack's `AWS::RDS::DBInstance` by the instance object it
  created, whatever that instance is called by then; AWS deletes by the physical
  ID. After a restore renames the old writer aside and creates a new one under the
  stack's writer identifier, moto would delete the old (renamed) writer and leave
  the new one, so the cluster's deletion fails with active members.

Why the product relies on it
----------------------------
Each tenant's stack holds an Aurora PostgreSQL cluster (ManageMasterUserPassword,
so the password lives in Secrets Manager and the product passes only the secret
ARN around) plus a writer instance; the product reads the endpoints and the
secret ARN from stack outputs, changes a tenant's database size by updating
DBInstanceClass, and relies on DeletionProtection making a stack deletion fail.

How it hooks into moto
----------------------
* New `CloudFormationModel` subclass `AuroraDBClusterResource` registered for
  `AWS::RDS::DBCluster` (moto builds its type map from
  `CloudFormationModel.__subclasses__()`; its lru caches in
  `moto.cloudformation.parsing` are cleared). It creates/modifies/deletes a
  real cluster through `RDSBackend.create_db_cluster/modify_db_cluster/
  delete_db_cluster`.
* `DBInstance.create_from_cloudformation_json` is replaced and
  `DBInstance.update_from_cloudformation_json` added (modify in place through
  `RDSBackend.modify_db_instance`, replacement when an immutable property
  changes), `DBInstance.get_cfn_attribute/has_cfn_attr` extended.
* `DBInstance.delete` (only called for stack resources) deletes the instance
  named by the physical ID recorded at creation, when it still exists.
* Registers RDS snapshotters and default deletion policies with cfn_engine.
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.utils import random_suffix
from moto.core.common_models import CloudFormationModel
from moto.rds.exceptions import InvalidParameterCombination, InvalidParameterValue
from moto.rds.models import DBInstance, DBInstanceClustered, rds_backends

from . import cfn_engine


def _bool(value: Any, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _name(value: Any) -> str | None:
    """A Ref may resolve to a moto model object instead of its name."""
    if value is None or isinstance(value, str):
        return value
    for attr in ("physical_resource_id", "name", "subnet_name", "db_cluster_identifier"):
        found = getattr(value, attr, None)
        if isinstance(found, str):
            return found
    return str(value)


def rds_identifier(raw: str) -> str:
    """Make a generated CloudFormation name a valid RDS identifier."""
    ident = re.sub(r"[^a-z0-9-]", "-", raw.lower())
    ident = re.sub(r"-{2,}", "-", ident).strip("-")
    if not ident or not ident[0].isalpha():
        ident = "db-" + ident
    return ident[:63].rstrip("-")


def _kms_arn(account_id: str, region_name: str, key: Any) -> Any:
    """RDS reports KmsKeyId as the key ARN; a template usually passes {"Ref": Key} (the key id)."""
    key = _name(key)
    if not key or key.startswith("arn:") or key.startswith("alias/"):
        return key
    try:
        from moto.kms.models import kms_backends

        return kms_backends[account_id][region_name].describe_key(key).arn
    except Exception:  # noqa: BLE001 - unknown key ids are passed through unchanged
        return key


def _tags(value: Any) -> list[dict[str, str]]:
    if isinstance(value, list):
        return [{"Key": t["Key"], "Value": str(t.get("Value", ""))} for t in value if isinstance(t, dict) and "Key" in t]
    return []


def _stack_name_for(kwargs: dict[str, Any]) -> str:
    stack_id = kwargs.get("StackId") or ""
    parts = stack_id.split(":stack/")
    return parts[1].split("/")[0] if len(parts) == 2 else "stack"


# ----------------------------------------------------------------- DBCluster

# Changing one of these requires replacement in AWS.
CLUSTER_REPLACEMENT_PROPERTIES = (
    "DBClusterIdentifier", "Engine", "DatabaseName", "MasterUsername", "StorageEncrypted", "KmsKeyId",
    "DBSubnetGroupName", "AvailabilityZones", "EngineMode", "SourceDBClusterIdentifier", "SnapshotIdentifier",
)


def _cluster_kwargs(identifier: str, props: dict[str, Any]) -> dict[str, Any]:
    scaling = props.get("ServerlessV2ScalingConfiguration")
    secret = props.get("MasterUserSecret") or {}
    kwargs: dict[str, Any] = {
        "db_cluster_identifier": identifier,
        "engine": props.get("Engine"),
        "engine_version": props.get("EngineVersion"),
        "engine_mode": props.get("EngineMode"),
        "database_name": props.get("DatabaseName"),
        "master_username": props.get("MasterUsername"),
        "master_user_password": props.get("MasterUserPassword"),
        "manage_master_user_password": _bool(props.get("ManageMasterUserPassword"), False),
        "master_user_secret_kms_key_id": secret.get("KmsKeyId") if isinstance(secret, dict) else None,
        "storage_encrypted": _bool(props.get("StorageEncrypted"), False),
        "kms_key_id": props.get("KmsKeyId"),
        "deletion_protection": _bool(props.get("DeletionProtection"), False),
        "backup_retention_period": _int(props.get("BackupRetentionPeriod")) or 1,
        "db_subnet_group_name": _name(props.get("DBSubnetGroupName")),
        "vpc_security_group_ids": [_name(v) for v in props.get("VpcSecurityGroupIds") or []],
        "port": _int(props.get("Port")),
        "tags": _tags(props.get("Tags")),
        "db_cluster_parameter_group_name": _name(props.get("DBClusterParameterGroupName")),
        "copy_tags_to_snapshot": _bool(props.get("CopyTagsToSnapshot"), False),
        "enable_iam_database_authentication": _bool(props.get("EnableIAMDatabaseAuthentication"), False),
        "enable_cloudwatch_logs_exports": props.get("EnableCloudwatchLogsExports") or [],
        "availability_zones": props.get("AvailabilityZones"),
        "storage_type": props.get("StorageType"),
        "serverless_v2_scaling_configuration": (
            {"MinCapacity": float(scaling["MinCapacity"]), "MaxCapacity": float(scaling["MaxCapacity"])}
            if isinstance(scaling, dict) and "MinCapacity" in scaling and "MaxCapacity" in scaling else None
        ),
    }
    for key, prop in (("preferred_backup_window", "PreferredBackupWindow"),
                      ("preferred_maintenance_window", "PreferredMaintenanceWindow")):
        if props.get(prop):
            kwargs[key] = props[prop]
    if kwargs["manage_master_user_password"] and kwargs["master_user_password"]:
        raise InvalidParameterCombination(
            "You can't specify both ManageMasterUserPassword and MasterUserPassword."
        )
    return {k: v for k, v in kwargs.items() if v is not None}


class AuroraDBClusterResource(CloudFormationModel):
    """The CloudFormation-side handle of a cluster that lives in moto's RDS backend."""

    def __init__(self, account_id: str, region_name: str, identifier: str, properties: dict[str, Any]):
        self.account_id = account_id
        self.region_name = region_name
        self.identifier = identifier
        self.properties = properties

    @property
    def backend(self) -> Any:
        return rds_backends[self.account_id][self.region_name]

    @property
    def cluster(self) -> Any:
        return self.backend.clusters[self.identifier]

    @property
    def physical_resource_id(self) -> str:
        return self.identifier

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DBClusterIdentifier"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::RDS::DBCluster"

    ATTRIBUTES = (
        "Endpoint.Address", "Endpoint.Port", "ReadEndpoint.Address", "DBClusterArn", "DBClusterResourceId",
        "MasterUserSecret.SecretArn", "Endpoint",
    )

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        cluster = self.cluster
        if attribute_name in ("Endpoint.Address", "Endpoint"):
            return cluster.endpoint
        if attribute_name == "Endpoint.Port":
            return str(cluster.port)
        if attribute_name == "ReadEndpoint.Address":
            return cluster.reader_endpoint
        if attribute_name == "DBClusterArn":
            return cluster.db_cluster_arn
        if attribute_name == "DBClusterResourceId":
            return cluster.db_cluster_resource_id
        if attribute_name == "MasterUserSecret.SecretArn":
            secret = getattr(cluster, "master_user_secret", None)
            if secret is None:
                raise InvalidParameterValue(
                    f"DB cluster {self.identifier} does not manage its master user password "
                    "(ManageMasterUserPassword is not true): MasterUserSecret.SecretArn is unavailable"
                )
            return secret.secret_arn
        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc, override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
        **kwargs: Any,
    ) -> "AuroraDBClusterResource":
        props = cloudformation_json.get("Properties") or {}
        identifier = props.get("DBClusterIdentifier") or rds_identifier(resource_name)
        backend = rds_backends[account_id][region_name]
        if identifier in backend.clusters:
            raise InvalidParameterValue(f"DB Cluster already exists: {identifier}")
        cluster_kwargs = _cluster_kwargs(identifier, props)
        if "kms_key_id" in cluster_kwargs:
            cluster_kwargs["kms_key_id"] = _kms_arn(account_id, region_name, cluster_kwargs["kms_key_id"])
        backend.create_db_cluster(cluster_kwargs)
        return cls(account_id, region_name, identifier.lower(), props)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc, override]
        cls, original_resource: "AuroraDBClusterResource", new_resource_name: str,
        cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> "AuroraDBClusterResource":
        new = cloudformation_json.get("Properties") or {}
        old = original_resource.properties
        changed = [p for p in CLUSTER_REPLACEMENT_PROPERTIES if new.get(p) != old.get(p)]
        if changed:
            raise InvalidParameterCombination(
                f"Update of {', '.join(changed)} requires replacing the DB cluster "
                f"{original_resource.identifier}, which the sandbox does not emulate"
            )
        backend = original_resource.backend
        cluster = original_resource.cluster
        wanted = _cluster_kwargs(original_resource.identifier, new)
        modify: dict[str, Any] = {"db_cluster_identifier": original_resource.identifier, "apply_immediately": True}
        for key in ("engine_version", "deletion_protection", "backup_retention_period", "vpc_security_group_ids",
                    "port", "serverless_v2_scaling_configuration", "db_cluster_parameter_group_name",
                    "preferred_backup_window", "preferred_maintenance_window", "copy_tags_to_snapshot",
                    "enable_iam_database_authentication"):
            if key in wanted:
                modify[key] = wanted[key]
        if "deletion_protection" not in wanted:
            modify["deletion_protection"] = False
        new_manage = bool(wanted.get("manage_master_user_password"))
        if new_manage != bool(getattr(cluster, "manage_master_user_password", False)):
            modify["manage_master_user_password"] = new_manage
            if new_manage and wanted.get("master_user_secret_kms_key_id"):
                modify["master_user_secret_kms_key_id"] = wanted["master_user_secret_kms_key_id"]
        if wanted.get("master_user_password") and wanted.get("master_user_password") != old.get("MasterUserPassword"):
            modify["master_user_password"] = wanted["master_user_password"]
        if "enable_iam_database_authentication" in modify:
            modify["iam_auth"] = modify.pop("enable_iam_database_authentication")
        backend.modify_db_cluster(modify)
        cluster = original_resource.cluster
        cluster.tags = wanted.get("tags", [])
        # The sandbox has no pending-modified values: changes apply immediately.
        cluster.status = "available"
        return cls(account_id, region_name, original_resource.identifier, new)

    def delete(self, account_id: str, region_name: str) -> None:
        if self.identifier in self.backend.clusters:
            self.backend.delete_db_cluster(self.identifier)


def _snapshot_cluster(stack: Any, logical_id: str, resource: Any) -> None:
    backend = rds_backends[stack.account_id][stack.region_name]
    if resource.identifier in backend.clusters:
        snapshot_id = rds_identifier(f"{stack.name}-snapshot-{logical_id}-{random_suffix()}")
        backend.create_db_cluster_snapshot(resource.identifier, snapshot_id)


# ---------------------------------------------------------------- DBInstance

INSTANCE_REPLACEMENT_PROPERTIES = (
    "DBInstanceIdentifier", "DBClusterIdentifier", "Engine", "DBName", "StorageEncrypted", "KmsKeyId",
    "AvailabilityZone", "DBSubnetGroupName", "MasterUsername", "SourceDBInstanceIdentifier",
    "DBSnapshotIdentifier",
)


def _instance_kwargs(identifier: str, props: dict[str, Any]) -> dict[str, Any]:
    cluster_id = _name(props.get("DBClusterIdentifier"))
    kwargs: dict[str, Any] = {
        "db_instance_identifier": identifier,
        "db_instance_class": props.get("DBInstanceClass"),
        "engine": props.get("Engine"),
        "db_cluster_identifier": cluster_id.lower() if cluster_id else None,
        "db_subnet_group_name": _name(props.get("DBSubnetGroupName")),
        "availability_zone": props.get("AvailabilityZone"),
        "publicly_accessible": _bool(props.get("PubliclyAccessible")),
        "auto_minor_version_upgrade": _bool(props.get("AutoMinorVersionUpgrade"), True),
        "db_parameter_group_name": _name(props.get("DBParameterGroupName")),
        "tags": _tags(props.get("Tags")),
        "port": _int(props.get("Port")),
        "copy_tags_to_snapshot": _bool(props.get("CopyTagsToSnapshot"), False),
        "deletion_protection": _bool(props.get("DeletionProtection"), False),
        "monitoring_interval": _int(props.get("MonitoringInterval")) or 0,
        "monitoring_role_arn": props.get("MonitoringRoleArn"),
    }
    if props.get("PreferredMaintenanceWindow"):
        kwargs["preferred_maintenance_window"] = str(props["PreferredMaintenanceWindow"]).lower()
    if kwargs["db_cluster_identifier"]:
        if props.get("PromotionTier") is not None:
            kwargs["promotion_tier"] = _int(props.get("PromotionTier"))
    else:
        security_groups = props.get("DBSecurityGroups") or []
        kwargs.update({
            "allocated_storage": _int(props.get("AllocatedStorage")),
            "max_allocated_storage": _int(props.get("MaxAllocatedStorage")),
            "backup_retention_period": _int(props.get("BackupRetentionPeriod")) if props.get(
                "BackupRetentionPeriod") is not None else 1,
            "db_name": props.get("DBName"),
            "engine_version": props.get("EngineVersion"),
            "iops": props.get("Iops"),
            "kms_key_id": props.get("KmsKeyId"),
            "master_username": props.get("MasterUsername"),
            "master_user_password": props.get("MasterUserPassword"),
            "manage_master_user_password": _bool(props.get("ManageMasterUserPassword"), False),
            "multi_az": _bool(props.get("MultiAZ"), False),
            "storage_encrypted": _bool(props.get("StorageEncrypted"), False),
            "storage_type": props.get("StorageType"),
            "db_security_groups": [_name(g) for g in security_groups],
            "vpc_security_group_ids": [_name(v) for v in props.get("VpcSecurityGroupIds") or []],
        })
        if props.get("PreferredBackupWindow"):
            kwargs["preferred_backup_window"] = props["PreferredBackupWindow"]
    return {k: v for k, v in kwargs.items() if v is not None}


def _generated_instance_name(resource_name: str, props: dict[str, Any]) -> str:
    return props.get("DBInstanceIdentifier") or rds_identifier(resource_name)


def instance_create_from_cloudformation_json(  # replaces DBInstance.create_from_cloudformation_json
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> DBInstance:
    props = cloudformation_json.get("Properties") or {}
    backend = rds_backends[account_id][region_name]
    db_kwargs = _instance_kwargs(_generated_instance_name(resource_name, props).lower(), props)
    source = props.get("SourceDBInstanceIdentifier")
    if source:
        db_kwargs["source_db_instance_identifier"] = _name(source)
        instance = backend.create_db_instance_read_replica(db_kwargs)
    else:
        instance = backend.create_db_instance(db_kwargs)
    instance._sandbox_cfn_properties = props
    instance._sandbox_cfn_physical_id = instance.db_instance_identifier
    return instance


def instance_delete(self: Any, account_id: str, region_name: str) -> None:  # replaces DBInstance.delete
    backend = rds_backends[account_id][region_name]
    identifier = getattr(self, "_sandbox_cfn_physical_id", self.db_instance_identifier)
    # Like AWS, an instance already gone by that name counts as deleted.
    if identifier in backend.databases:
        backend.delete_db_instance(identifier)


def instance_update_from_cloudformation_json(  # new DBInstance.update_from_cloudformation_json
    cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str,
    region_name: str,
) -> DBInstance:
    new = cloudformation_json.get("Properties") or {}
    old = getattr(original_resource, "_sandbox_cfn_properties", {})
    backend = rds_backends[account_id][region_name]
    identifier = getattr(original_resource, "_sandbox_cfn_physical_id", original_resource.db_instance_identifier)
    changed = [p for p in INSTANCE_REPLACEMENT_PROPERTIES if new.get(p) != old.get(p)]
    if changed:
        if new.get("DBInstanceIdentifier") and new.get("DBInstanceIdentifier") == old.get("DBInstanceIdentifier"):
            raise InvalidParameterCombination(
                "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                f"Rename {identifier} and update the stack again."
            )
        # Replacement: create the new instance first, then delete the old one.
        replacement = instance_create_from_cloudformation_json(
            cls, new_resource_name, cloudformation_json, account_id, region_name
        )
        backend.delete_db_instance(identifier)
        return replacement
    wanted = _instance_kwargs(identifier, new)
    modify: dict[str, Any] = {"apply_immediately": True}
    allowed = ["db_instance_class", "publicly_accessible", "auto_minor_version_upgrade", "copy_tags_to_snapshot",
               "deletion_protection", "preferred_maintenance_window", "monitoring_interval", "monitoring_role_arn"]
    if not isinstance(original_resource, DBInstanceClustered):
        allowed += ["allocated_storage", "backup_retention_period", "engine_version", "multi_az", "storage_type",
                    "preferred_backup_window", "vpc_security_group_ids", "iops"]
    for key in allowed:
        if key in wanted:
            modify[key] = wanted[key]
    if "db_parameter_group_name" in wanted and wanted["db_parameter_group_name"] != old.get("DBParameterGroupName"):
        modify["db_parameter_group_name"] = wanted["db_parameter_group_name"]
    if "DeletionProtection" not in new:
        modify["deletion_protection"] = False
    if new.get("MasterUserPassword") and new.get("MasterUserPassword") != old.get("MasterUserPassword"):
        modify["master_user_password"] = new["MasterUserPassword"]
    instance = backend.modify_db_instance(identifier, modify)
    instance.tags = wanted.get("tags", [])
    instance._sandbox_cfn_properties = new
    instance._sandbox_cfn_physical_id = identifier
    return instance


_original_instance_get_cfn_attribute = DBInstance.get_cfn_attribute


def instance_get_cfn_attribute(self: Any, attribute_name: str) -> Any:
    if attribute_name == "DBInstanceArn":
        return self.db_instance_arn
    if attribute_name == "DbiResourceId":
        return self.dbi_resource_id
    if attribute_name == "Endpoint.Port":
        return str(self.port)
    return _original_instance_get_cfn_attribute(self, attribute_name)


def instance_has_cfn_attr(cls: Any, attr: str) -> bool:
    return attr in ["Endpoint.Address", "Endpoint.Port", "DBInstanceArn", "DbiResourceId"]


def _snapshot_instance(stack: Any, logical_id: str, resource: Any) -> None:
    if isinstance(resource, DBInstanceClustered):
        return  # Aurora instances have no snapshots of their own
    backend = rds_backends[stack.account_id][stack.region_name]
    if resource.db_instance_identifier in backend.databases:
        snapshot_id = rds_identifier(f"{stack.name}-snapshot-{logical_id}-{random_suffix()}")
        backend.create_db_snapshot(resource.db_instance_identifier, snapshot_id)


def _instance_default_policy(resource_json: dict[str, Any]) -> str:
    props = resource_json.get("Properties") or {}
    return "Delete" if props.get("DBClusterIdentifier") else "Snapshot"


def apply() -> None:
    if getattr(DBInstance, "__sandbox_cfn_rds__", False):
        return
    DBInstance.__sandbox_cfn_rds__ = True
    DBInstance.create_from_cloudformation_json = classmethod(instance_create_from_cloudformation_json)  # type: ignore[assignment]
    DBInstance.update_from_cloudformation_json = classmethod(instance_update_from_cloudformation_json)  # type: ignore[assignment]
    DBInstance.has_cfn_attr = classmethod(instance_has_cfn_attr)  # type: ignore[assignment]
    DBInstance.get_cfn_attribute = instance_get_cfn_attribute  # type: ignore[assignment]
    DBInstance.delete = instance_delete  # type: ignore[method-assign]
    # moto's model registry is CloudFormationModel.__subclasses__() behind lru caches.
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()
    assert cfn_parsing.get_model_map()["AWS::RDS::DBCluster"] is AuroraDBClusterResource
    cfn_engine.SNAPSHOTTERS["AWS::RDS::DBCluster"] = _snapshot_cluster
    cfn_engine.SNAPSHOTTERS["AWS::RDS::DBInstance"] = _snapshot_instance
    cfn_engine.DEFAULT_DELETION_POLICY["AWS::RDS::DBCluster"] = lambda _json: "Snapshot"
    cfn_engine.DEFAULT_DELETION_POLICY["AWS::RDS::DBInstance"] = _instance_default_policy
