"""Static checks of template.yaml (and samconfig.toml): lint, SAM transform, least privilege,
data safety, and the wiring that the local stack relies on. Offline and in-process."""

from __future__ import annotations

import ast
import copy
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint, lint_file
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import intrinsics_multi_constructor

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
SAMCONFIG = REPO_ROOT / "samconfig.toml"
REGION = "us-east-1"
CODE_BUCKET = "recoup-template-test"

FUNCTIONS = ("ShopifyWebhookFunction", "StripeWebhookFunction", "EventWorkerFunction")
# Every function sees the same names, so code can read settings anywhere, and the local stack
# (infra/recoup_local) sets exactly these too.
EXPECTED_ENV = frozenset(
    {
        "RECOUP_STAGE",
        "RECOUP_TABLE_NAME",
        "RECOUP_EVENTS_QUEUE_URL",
        "RECOUP_SECRETS_SOURCE",
        "RECOUP_SHOPIFY_API_SECRET_PARAM",
        "RECOUP_STRIPE_WEBHOOK_SECRET_PARAM",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
)
# AWS managed policies SAM attaches by itself: logging and X-Ray (Tracing: Active; X-Ray has
# no resource-level permissions). Anything else, the worker's queue polling included, must be
# an inline, scoped statement (AWSLambdaSQSQueueExecutionRole would allow every queue).
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }
)
# Verbs that only read; any other action is treated as a write.
READ_ONLY_VERBS = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands !Ref, !Sub, ... (a subclass: yaml.SafeLoader stays as is)."""


_CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def _load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader)


class _OfflinePolicyLoader:
    """The template names no managed policy, so the IAM lookup is never needed."""

    def load(self) -> dict[str, str]:
        return {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from _as_list(document.get("Statement", []))


def _iam_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) for every identity-based policy statement."""
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in _statements(policy["PolicyDocument"]):
                    yield logical_id, statement
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            for statement in _statements(props["PolicyDocument"]):
                yield logical_id, statement


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def _get_att(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
        return logical_id, attribute
    return None


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return _load_template()


@pytest.fixture(scope="module")
def cfn(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform (code in S3, key = path)."""
    template = copy.deepcopy(sam_template)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://{CODE_BUCKET}/{props[key]}"
    with pytest.MonkeyPatch.context() as mp:
        # The translator takes the region (for ARN partitions) from boto3's default session.
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.delenv("AWS_PROFILE", raising=False)
        return transform(template, {}, _OfflinePolicyLoader())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return cfn["Resources"]


def _lambda_functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::Function"}


# ---------------------------------------------------------------------------------- lint


def test_cfn_lint_reports_nothing_on_the_template() -> None:
    # Given template.yaml as committed
    # When cfn-lint checks it for the deployment region
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        matches = lint_file(TEMPLATE, config=ManualArgs(regions=[REGION]))
    # Then there is neither an error nor a warning
    assert [str(m) for m in matches] == []


def test_cfn_lint_finds_no_error_in_the_transformed_template(cfn: dict[str, Any]) -> None:
    # Given the CloudFormation template the SAM transform produces
    # When cfn-lint checks it (cfn-lint itself validates SAM resources before the transform)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        matches = lint(json.dumps(cfn), config=ManualArgs(regions=[REGION]))
    # Then there is no error (SAM's own output carries a harmless W1020 on the layer name)
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


# ---------------------------------------------------------------------------------- shape


def test_template_has_the_agreed_logical_ids(sam_template: dict[str, Any]) -> None:
    # Given the SAM template
    # When its parameters, resources and outputs are listed
    resource_ids = set(sam_template["Resources"])
    # Then the names other code, docs and dashboards rely on are all there
    assert set(sam_template["Parameters"]) == {"Stage", "LogLevel", "AlarmTopicArn"}
    assert sam_template["Parameters"]["Stage"]["AllowedValues"] == ["dev", "staging", "prod"]
    assert resource_ids >= {
        "RecoupLayer",
        *FUNCTIONS,
        "HttpApi",
        "Table",
        "EventsQueue",
        "EventsDeadLetterQueue",
        "EventsDeadLetterAlarm",
        "DataKey",
        "DataKeyAlias",
    }
    assert set(sam_template["Outputs"]) == {
        "ApiUrl",
        "TableName",
        "EventsQueueUrl",
        "EventsDeadLetterQueueUrl",
    }


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_handler_resolves_to_a_top_level_function(
    resources: dict[str, Any], function_id: str
) -> None:
    # Given a function of the transformed template (its S3 key is its CodeUri)
    function = resources[function_id]["Properties"]
    code_dir = REPO_ROOT / function["Code"]["S3Key"]
    module_name, _, handler_name = function["Handler"].rpartition(".")
    source = code_dir / (module_name.replace(".", "/") + ".py")
    # When its handler module is parsed (not imported: that needs the layer)
    assert source.is_file(), f"{function_id}: handler module {source} does not exist"
    tree = ast.parse(source.read_text(), filename=str(source))
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    async_defined = {n.name for n in tree.body if isinstance(n, ast.AsyncFunctionDef)}
    # Then the module defines the handler as a plain top-level function
    assert handler_name not in async_defined, f"{source}: Lambda cannot call an async handler"
    assert handler_name in defined, f"{source} defines no top-level function {handler_name}"
    args = defined[handler_name].args
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    assert required <= 2 and (positional >= 2 or args.vararg), (
        f"{source}: call is f(event, context)"
    )


# ---------------------------------------------------------------------------------- IAM


def test_no_iam_statement_grants_wildcard_actions_or_writes_on_everything(
    resources: dict[str, Any],
) -> None:
    # Given every identity-based policy statement after the SAM transform
    statements = list(_iam_statements(resources))
    assert statements, "the transform produced no IAM statements: check the fixture"
    problems = []
    for logical_id, statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        # When its actions and resources are examined
        for key in ("NotAction", "NotResource"):
            if key in statement:
                problems.append(f"{logical_id}: Allow with {key}")
        actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
        resources_ = _as_list(statement.get("Resource", []))
        for action in actions:
            if action == "*" or re.fullmatch(r"[\w-]+:\*", action):
                problems.append(f"{logical_id}: action {action}")
            verb = action.partition(":")[2]
            if "*" in resources_ and not verb.startswith(READ_ONLY_VERBS):
                problems.append(f"{logical_id}: {action} on Resource *")
    # Then no statement allows every action of a service, or a write on every resource
    assert problems == []


def test_roles_attach_only_the_managed_policies_sam_adds(resources: dict[str, Any]) -> None:
    # Given every IAM role after the transform
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {f"{f}Role" for f in FUNCTIONS}
    for logical_id, role in roles.items():
        # When its managed policies are listed
        attached = set(role["Properties"].get("ManagedPolicyArns", []))
        # Then they are only SAM's logging and tracing policies
        assert attached <= ALLOWED_MANAGED_POLICIES, logical_id


def test_webhook_functions_read_only_their_own_secret(resources: dict[str, Any]) -> None:
    # Given the two webhook roles and their secret parameters
    own = {
        "ShopifyWebhookFunctionRole": "/recoup/${Stage}/shopify-api-secret",
        "StripeWebhookFunctionRole": "/recoup/${Stage}/stripe-webhook-secret",
    }
    for role_id, parameter in own.items():
        statements = [s for r, s in _iam_statements(resources) if r == role_id]
        # When the SSM and KMS statements are picked out
        ssm = [s for s in statements if "ssm:GetParameter" in _as_list(s["Action"])]
        kms = [s for s in statements if "kms:Decrypt" in _as_list(s["Action"])]
        # Then SSM access is that one parameter, and decryption only through SSM for it
        assert len(ssm) == 1, role_id
        assert [r["Fn::Sub"] for r in _as_list(ssm[0]["Resource"])] == [
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + parameter
        ]
        assert len(kms) == 1, role_id
        condition = kms[0]["Condition"]["StringEquals"]
        assert condition["kms:ViaService"] == {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
        assert condition["kms:EncryptionContext:PARAMETER_ARN"]["Fn::Sub"].endswith(parameter)
        # and no access to the table
        assert not any(
            str(a).startswith("dynamodb:") for s in statements for a in _as_list(s["Action"])
        )


def test_worker_reaches_only_its_table_and_data_key(resources: dict[str, Any]) -> None:
    # Given the worker's statements
    statements = [s for r, s in _iam_statements(resources) if r == "EventWorkerFunctionRole"]
    for statement in statements:
        actions = _as_list(statement["Action"])
        targets = _as_list(statement["Resource"])
        # When a statement grants DynamoDB or KMS actions
        if any(a.startswith("dynamodb:") for a in actions):
            # Then it is on the table and its indexes, without Scan or table management
            assert targets == [
                {"Fn::GetAtt": ["Table", "Arn"]},
                {"Fn::Sub": "${Table.Arn}/index/*"},
            ]
            assert "dynamodb:GetItem" in actions and "dynamodb:ConditionCheckItem" in actions
            assert not {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable"} & set(
                actions
            )
        if any(a.startswith("kms:") for a in actions):
            assert targets == [{"Fn::GetAtt": ["DataKey", "Arn"]}]


def test_data_key_policy_trusts_only_the_account(resources: dict[str, Any]) -> None:
    # Given the KMS keys of the stack
    keys = [v for v in resources.values() if v["Type"] == "AWS::KMS::Key"]
    assert keys
    for key in keys:
        # When their key policies are read
        for statement in _statements(key["Properties"]["KeyPolicy"]):
            # Then only the account root is trusted (IAM policies grant use), never "*"
            assert statement["Principal"] == {
                "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            }
            assert "*" not in _as_list(statement["Action"])
        assert key["Properties"]["EnableKeyRotation"] is True


# ---------------------------------------------------------------------------------- data


def test_table_is_recoverable_encrypted_and_expires_items(resources: dict[str, Any]) -> None:
    # Given the orders table
    table = resources["Table"]["Properties"]
    # When its settings are read
    # Then it is on-demand, point-in-time recoverable, encrypted with our key, and has a TTL
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "DataKey"},
    }
    assert resources["DataKey"]["Type"] == "AWS::KMS::Key"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}


def test_events_queue_is_fifo_with_a_fifo_dead_letter_queue(resources: dict[str, Any]) -> None:
    # Given the events queue and the worker that consumes it
    queue = resources["EventsQueue"]["Properties"]
    worker_timeout = resources["EventWorkerFunction"]["Properties"]["Timeout"]
    # When its redrive target is followed
    dlq_id, attribute = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then both queues are FIFO, encrypted, and the DLQ outlives the messages it receives
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert attribute == "Arn"
    assert queue["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # and a message stays hidden long enough for the worker to retry within its visibility
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def test_worker_consumes_the_queue_in_batches_with_partial_failures(
    resources: dict[str, Any],
) -> None:
    # Given the event source mappings of the transformed template
    mappings = [v for v in resources.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    # When the one feeding the worker is found
    (mapping,) = [
        m for m in mappings if _ref(m["Properties"]["FunctionName"]) == "EventWorkerFunction"
    ]
    props = mapping["Properties"]
    # Then it reads the events queue ten at a time and reports failed items one by one
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_dead_letter_queue_has_an_alarm(resources: dict[str, Any]) -> None:
    # Given every queue that is some queue's dead-letter target
    dlqs = {
        (_get_att(v["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) or ("",))[0]
        for v in resources.values()
        if v["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in v["Properties"]
    }
    assert dlqs == {"EventsDeadLetterQueue"}
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    for dlq in dlqs:
        # When the alarms watching its visible messages are found
        watching = [
            a
            for a in alarms
            if a["Namespace"] == "AWS/SQS"
            and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
            in a["Dimensions"]
        ]
        # Then one fires as soon as a single message lands there
        assert len(watching) == 1, dlq
        (alarm,) = watching
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["TreatMissingData"] == "notBreaching"


def test_functions_have_error_alarms_that_notify_only_when_a_topic_is_given(
    resources: dict[str, Any],
) -> None:
    # Given every alarm
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    # When the Lambda error alarms are mapped to their functions
    watched = {
        _ref(d["Value"])
        for a in alarms
        if a["Namespace"] == "AWS/Lambda" and a["MetricName"] == "Errors"
        for d in a["Dimensions"]
        if d["Name"] == "FunctionName"
    }
    # Then every function is watched, and every alarm notifies only if AlarmTopicArn is set
    assert watched == set(FUNCTIONS)
    for alarm in alarms:
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


# ---------------------------------------------------------------------------------- wiring


def test_every_function_sees_the_same_environment_names(resources: dict[str, Any]) -> None:
    # Given the functions after Globals are merged
    functions = _lambda_functions(resources)
    assert set(functions) == set(FUNCTIONS)
    for logical_id, function in functions.items():
        # When their environment variable names are listed
        names = set(function["Properties"]["Environment"]["Variables"])
        # Then they are exactly the agreed set (the local stack uses the same names)
        assert names == EXPECTED_ENV, logical_id


def test_the_layer_is_attached_to_every_function_and_fits_it(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the functions and the layer versions of the transformed template
    layers = {k: v for k, v in resources.items() if v["Type"] == "AWS::Lambda::LayerVersion"}
    (layer_id,) = layers
    layer = layers[layer_id]["Properties"]
    for logical_id, function in _lambda_functions(resources).items():
        props = function["Properties"]
        # When the function's layers are resolved
        attached = [_ref(ref) for ref in props["Layers"]]
        # Then the Recoup layer is among them, built for the function's runtime and architecture
        assert layer_id in attached and layer_id.startswith("RecoupLayer"), logical_id
        assert props["Runtime"] in layer["CompatibleRuntimes"], logical_id
        assert set(props["Architectures"]) <= set(layer["CompatibleArchitectures"]), logical_id
    # and sam builds the layer with its Makefile for that same architecture
    metadata = sam_template["Resources"]["RecoupLayer"]["Metadata"]
    assert metadata["BuildMethod"] == "makefile"
    assert [metadata["BuildArchitecture"]] == sam_template["Globals"]["Function"]["Architectures"]
    assert (REPO_ROOT / layer["Content"]["S3Key"] / "Makefile").is_file()


# ---------------------------------------------------------------------------------- samconfig


def test_samconfig_deploys_each_stage_to_its_own_stack(sam_template: dict[str, Any]) -> None:
    # Given samconfig.toml and the stages the template allows
    config = tomllib.loads(SAMCONFIG.read_text())
    stages = sam_template["Parameters"]["Stage"]["AllowedValues"]
    assert config["version"] == 0.1
    for stage in stages:
        # When a stage's deploy settings are read
        deploy = config[stage]["deploy"]["parameters"]
        # Then it deploys stack recoup-<stage> with Stage=<stage>, and only prod asks first
        assert deploy["stack_name"] == f"recoup-{stage}"
        assert deploy["parameter_overrides"] == f"Stage={stage}"
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert deploy["confirm_changeset"] is (stage == "prod")
        assert config[stage]["build"]["parameters"] == {"cached": True, "parallel": True}
        assert config[stage]["validate"]["parameters"] == {"lint": True}
    # and nothing ties the file to one AWS account
    assert not re.search(r"\b\d{12}\b", SAMCONFIG.read_text())
