"""Create template.yaml's resources in the emulator, so local and cloud cannot drift.

Only the resource types the functions talk to are created (KMS keys, SQS queues, DynamoDB
tables, S3 buckets, SNS topics); the functions themselves become LocalFunctions that the HTTP
front and the queue pollers call in-process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from recoup_local.template import ROOT, Resolver, load

ACCOUNT = "123456789012"
_ORDER = (
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SNS::Topic",
    "AWS::SES::ConfigurationSet",
    "AWS::Logs::LogGroup",
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    routes: list[Route] = field(default_factory=list)
    queue_arns: list[str] = field(default_factory=list)
    batch_size: int = 10
    topic_arns: list[str] = field(default_factory=list)  # SNS subscriptions
    log_groups: list[str] = field(default_factory=list)  # CloudWatch Logs subscriptions
    schedules: list[str] = field(default_factory=list)  # EventBridge schedule expressions
    timeout: int = 10  # seconds (the function's Timeout, else the template's Globals)


@dataclass
class Stack:
    region: str
    refs: dict[str, str]
    attrs: dict[tuple[str, str], str]
    functions: list[FunctionSpec]
    queue_urls_by_arn: dict[str, str]


_clients: dict[tuple[str, str], Any] = {}


def _client(service: str, region: str) -> Any:
    """One client per service for a provisioning run: making one takes about 10 ms, and a
    run creates some sixty resources."""
    key = (service, region)
    if key not in _clients:
        _clients[key] = boto3.client(service, region_name=region)  # type: ignore[call-overload]
    return _clients[key]


def provision(region: str = "us-east-1", stage: str = "dev") -> Stack:
    """Create the resources with whatever endpoint boto3 is configured for (moto)."""
    _clients.clear()
    try:
        return _provision(region, stage)
    finally:
        # A client keeps the endpoint and mock it was made under: never reuse one later.
        _clients.clear()


def _provision(region: str, stage: str) -> Stack:
    template = load()
    params = {
        name: str(spec.get("Default", ""))
        for name, spec in (template.get("Parameters") or {}).items()
    }
    params["Stage"] = stage
    resolver = Resolver(
        parameters=params,
        pseudo={
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": f"recoup-{stage}",
            "AWS::URLSuffix": "amazonaws.com",
        },
    )
    resolver.evaluate_conditions(template.get("Conditions") or {})
    resources: dict[str, dict[str, Any]] = template["Resources"]
    queue_urls: dict[str, str] = {}
    for kind in _ORDER:
        # Dead-letter queues before the queues that redrive into them.
        of_kind = sorted(
            (item for item in resources.items() if item[1]["Type"] == kind),
            key=lambda item: "RedrivePolicy" in (item[1].get("Properties") or {}),
        )
        for logical_id, resource in of_kind:
            condition = resource.get("Condition")
            if condition and not resolver.conditions.get(condition):
                continue
            props = resolver.resolve(resource.get("Properties") or {})
            _CREATE[kind](logical_id, props, resolver, region, queue_urls)
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    globals_env = (globals_function.get("Environment") or {}).get("Variables") or {}
    globals_timeout = int(globals_function.get("Timeout") or 10)
    functions = [
        _function(logical_id, resource, globals_env, resolver, globals_timeout)
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    by_id = {spec.logical_id: spec for spec in functions}
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            props = resource["Properties"]
            spec = by_id[props["FunctionName"]["Ref"]]
            spec.queue_arns.append(resolver.resolve(props["EventSourceArn"]))
            spec.batch_size = int(props.get("BatchSize", 10))
    return Stack(region, dict(resolver.refs), dict(resolver.attrs), functions, queue_urls)


def _function(
    logical_id: str,
    resource: dict[str, Any],
    globals_env: dict[str, Any],
    resolver: Resolver,
    globals_timeout: int = 10,
) -> FunctionSpec:
    props = resource["Properties"]
    own_env = ((props.get("Environment") or {}).get("Variables")) or {}
    env = {k: str(resolver.resolve(v)) for k, v in {**globals_env, **own_env}.items()}
    spec = FunctionSpec(
        logical_id=logical_id,
        code_dir=ROOT / props["CodeUri"],
        handler=props["Handler"],
        environment=env,
        timeout=int(props.get("Timeout") or globals_timeout),
    )
    for event in (props.get("Events") or {}).values():
        event_props = event.get("Properties") or {}
        if event["Type"] == "HttpApi":
            spec.routes.append(Route(event_props["Method"].upper(), event_props["Path"]))
        elif event["Type"] == "SQS":
            spec.queue_arns.append(resolver.resolve(event_props["Queue"]))
            spec.batch_size = int(event_props.get("BatchSize", 10))
        elif event["Type"] == "SNS":
            spec.topic_arns.append(resolver.resolve(event_props["Topic"]))
        elif event["Type"] == "CloudWatchLogs":
            spec.log_groups.append(resolver.resolve(event_props["LogGroupName"]))
        elif event["Type"] == "Schedule":
            spec.schedules.append(str(event_props["Schedule"]))
        elif event["Type"] == "ScheduleV2":
            spec.schedules.append(str(event_props["ScheduleExpression"]))
    return spec


def _kms_key(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    kms = _client("kms", region)
    # An asymmetric key (KeySpec, KeyUsage) is created as declared; the default is symmetric.
    shape = {name: str(props[name]) for name in ("KeySpec", "KeyUsage") if name in props}
    key = kms.create_key(Description=str(props.get("Description", logical_id)), **shape)[
        "KeyMetadata"
    ]
    resolver.refs[logical_id] = key["KeyId"]
    resolver.attrs[(logical_id, "Arn")] = key["Arn"]


def _kms_alias(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    _client("kms", region).create_alias(
        AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"]
    )
    resolver.refs[logical_id] = props["AliasName"]


def _queue(
    logical_id: str,
    props: dict[str, Any],
    resolver: Resolver,
    region: str,
    queue_urls: dict[str, str],
) -> None:
    sqs = _client("sqs", region)
    attributes = {
        key: (
            json.dumps(value)
            if isinstance(value, dict)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )
        for key, value in props.items()
        if key not in ("QueueName", "Tags")
    }
    name = props.get("QueueName") or logical_id + (".fifo" if props.get("FifoQueue") else "")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    resolver.refs[logical_id] = url
    resolver.attrs[(logical_id, "Arn")] = arn
    resolver.attrs[(logical_id, "QueueName")] = name
    resolver.attrs[(logical_id, "QueueUrl")] = url
    queue_urls[arn] = url


def _table(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    ddb = _client("dynamodb", region)
    name = props.get("TableName") or logical_id
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    sse = props.get("SSESpecification")
    if sse:
        args["SSESpecification"] = {
            "Enabled": bool(sse.get("SSEEnabled")),
            "SSEType": sse.get("SSEType", "KMS"),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {}),
        }
    description = ddb.create_table(**args)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    resolver.refs[logical_id] = name
    resolver.attrs[(logical_id, "Arn")] = description["TableArn"]


def _bucket(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    name = props.get("BucketName") or f"recoup-local-{logical_id.lower()}"
    s3 = _client("s3", region)
    lock = bool(props.get("ObjectLockEnabled"))
    if region == "us-east-1":
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    else:
        s3.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": region},
            ObjectLockEnabledForBucket=lock,
        )
    versioning = (props.get("VersioningConfiguration") or {}).get("Status")
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    retention = ((props.get("ObjectLockConfiguration") or {}).get("Rule") or {}).get(
        "DefaultRetention"
    )
    if lock and retention:
        days = int(retention.get("Days") or 0) or 365 * int(retention["Years"])
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": retention["Mode"], "Days": days}},
            },
        )
    resolver.refs[logical_id] = name
    resolver.attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"


def _topic(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    name = props.get("TopicName") or logical_id
    arn = _client("sns", region).create_topic(Name=name)["TopicArn"]
    resolver.refs[logical_id] = arn
    resolver.attrs[(logical_id, "TopicName")] = name


def _configuration_set(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    name = props.get("Name") or logical_id
    _client("sesv2", region).create_configuration_set(ConfigurationSetName=name)
    resolver.refs[logical_id] = name


def _log_group(
    logical_id: str, props: dict[str, Any], resolver: Resolver, region: str, _: dict[str, str]
) -> None:
    """Only its name: nothing here writes to CloudWatch Logs (`lambdas.deliver_logs` stands
    in for a subscription)."""
    resolver.refs[logical_id] = str(props["LogGroupName"])


_CREATE = {
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::SQS::Queue": _queue,
    "AWS::DynamoDB::Table": _table,
    "AWS::S3::Bucket": _bucket,
    "AWS::SNS::Topic": _topic,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::SES::ConfigurationSet": _configuration_set,
}
