"""Static checks of template.yaml (and samconfig.toml): lint, SAM transform, least privilege,
data safety, and the wiring that the local stack relies on. Offline and in-process."""

from __future__ import annotations

import ast
import copy
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from cfnlint.api import ManualArgs, lint, lint_file
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import intrinsics_multi_constructor

from recoup.observability import BUSINESS_METRICS
from recoup.settings import (
    FUNCTION_SETTINGS,
    GLOBAL_VARIABLES,
    VARIABLES,
    QueueSetting,
    SecretSetting,
    environment_of,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
SAMCONFIG = REPO_ROOT / "samconfig.toml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
CODE_BUCKET = "recoup-template-test"

FUNCTIONS = (
    "ShopifyWebhookFunction",
    "StripeWebhookFunction",
    "EventWorkerFunction",
    "SchedulerFunction",
    "SenderFunction",
    "FeedbackFunction",
    "UnsubscribeFunction",
    "PayLinkFunction",
    "CustomerPageFunction",
    "AdminApiFunction",
    "ShopifyAuthFunction",
    "ShopifyTasksFunction",
    "PrivacyFunction",
    "EscalationFunction",
    "PlanChargesFunction",
    "HandOverFunction",
    "ReferralReportFunction",
)
ROLES = frozenset(f"{f}Role" for f in FUNCTIONS)
# The role SAM makes for EventBridge Scheduler to invoke the scheduler (ScheduleV2 event).
SCHEDULE_ROLE = "SchedulerFunctionEveryFiveMinutesRole"
# The role SNS writes SMS delivery status to CloudWatch Logs with (not a function's).
SMS_STATUS_ROLE = "SmsStatusLogRole"
# Globals: what every function reads (recoup.settings.GLOBAL_VARIABLES), and Powertools' own.
GLOBAL_ENV = frozenset(
    {
        *(variable.name for variable in GLOBAL_VARIABLES),
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    }
)
# AWS managed policies SAM attaches by itself: logging and X-Ray (Tracing: Active; X-Ray has
# no resource-level permissions). Anything else, the consumers' queue polling included, must be
# an inline, scoped statement (AWSLambdaSQSQueueExecutionRole would allow every queue).
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }
)
# Verbs that only read; any other action is treated as a write.
READ_ONLY_VERBS = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")
# What a function may do to the table: item by item. No Scan, no PartiQL, no table management.
PER_ITEM_ACTIONS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
    }
)
SQS_CONSUME = frozenset(
    {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
)
# Queue consumers and their queues: each fed by an explicit AWS::Lambda::EventSourceMapping.
CONSUMERS = {
    "EventWorkerFunction": "EventsQueue",
    "SenderFunction": "ReminderQueue",
    "ShopifyTasksFunction": "ShopifyTasksQueue",
    "PrivacyFunction": "PrivacyQueue",
    "EscalationFunction": "EscalationQueue",
    "PlanChargesFunction": "PlanChargesQueue",
    "HandOverFunction": "HandOverQueue",
}
# The roles that send SMS (reminders; answers to HELP), the one exception to "no write on *".
# The customer's page texts a fresh link when the case has only a phone number.
SMS_SENDERS = frozenset({"SenderFunctionRole", "FeedbackFunctionRole", "CustomerPageFunctionRole"})
# What invokes each function, and nothing else does.
EXPECTED_TRIGGERS = {
    "ShopifyWebhookFunction": {"POST /webhooks/shopify"},
    "StripeWebhookFunction": {"POST /webhooks/stripe"},
    "EventWorkerFunction": {"sqs EventsQueue"},
    "SchedulerFunction": {"schedule rate(5 minutes)"},
    "SenderFunction": {"sqs ReminderQueue"},
    "FeedbackFunction": {"sns EmailFeedbackTopic", "sns InboundSmsTopic"},
    "UnsubscribeFunction": {"GET /unsubscribe", "POST /unsubscribe"},
    "PayLinkFunction": {"GET /pay/{proxy+}"},
    "CustomerPageFunction": {"GET /c/{token}", "POST /c/{proxy+}"},
    "ShopifyAuthFunction": {"GET /auth", "GET /auth/callback", "GET /stripe/callback"},
    "ShopifyTasksFunction": {"sqs ShopifyTasksQueue"},
    "PrivacyFunction": {"sqs PrivacyQueue"},
    "EscalationFunction": {"sqs EscalationQueue"},
    "PlanChargesFunction": {"sqs PlanChargesQueue"},
    "HandOverFunction": {"sqs HandOverQueue"},
    "ReferralReportFunction": {"POST /referrals/report"},
    "AdminApiFunction": {"ANY /admin/api/{proxy+}", "GET /app", "GET /app/{proxy+}"},
}


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


def _iam_policies(resources: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, policy name, document) for every identity-based policy."""
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield logical_id, policy["PolicyName"], policy["PolicyDocument"]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield logical_id, props.get("PolicyName", logical_id), props["PolicyDocument"]


def _iam_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) for every identity-based policy statement."""
    for logical_id, _, document in _iam_policies(resources):
        for statement in _statements(document):
            yield logical_id, statement


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def _get_att(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
        return logical_id, attribute
    return None


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _resolve(value: Any, names: Mapping[str, Any] | None = None) -> Any:
    """Evaluate Ref, Fn::GetAtt, Fn::Sub, Fn::Select, Fn::Split and Fn::Join. A name (parameter,
    pseudo parameter, logical id, or "LogicalId.Attribute") takes its value from `names`, or
    else becomes "<name>", so that ARNs compare as plain text."""
    names = names or {}

    def lookup(name: str) -> Any:
        return names.get(name, f"<{name}>")

    if isinstance(value, list):
        return [_resolve(v, names) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        return lookup(argument)
    if function == "Fn::GetAtt":
        logical_id, attribute = _get_att(value) or ("", "")
        return lookup(f"{logical_id}.{attribute}")
    if function == "Fn::Sub":
        text, local = (argument, {}) if isinstance(argument, str) else argument
        scope = {**names, **{k: _resolve(v, names) for k, v in local.items()}}
        substituted = _SUB_VARIABLE.sub(lambda m: str(scope.get(m[1], f"<{m[1]}>")), text)
        return substituted.replace("${!", "${")
    if function == "Fn::Select":
        index, items = argument
        values = _resolve(items, names)
        # An unnamed parameter cannot be split: the choice stays symbolic
        return values[int(index)] if int(index) < len(values) else f"<{index} of {values}>"
    if function == "Fn::Split":
        separator, text = argument
        return str(_resolve(text, names)).split(separator)
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(str(i) for i in _resolve(items, names))
    return value


def _grants(
    resources: dict[str, Any], role_id: str, names: Mapping[str, Any] | None = None
) -> set[tuple[str, str]]:
    """(action, resolved resource) for every Allow of one role (conditions not considered)."""
    return {
        (action, str(target))
        for logical_id, statement in _iam_statements(resources)
        if logical_id == role_id and statement.get("Effect") == "Allow"
        for action in _as_list(statement.get("Action", []))
        for target in _resolve(_as_list(statement.get("Resource", [])), names)
    }


def _is_every_topic(resource: Any) -> bool:
    """arn:<partition>:sns:*:*:* in every partition (so not a hard-coded arn:aws:...)."""
    return all(
        _resolve(resource, {"AWS::Partition": p}) == f"arn:{p}:sns:*:*:*" for p in PARTITIONS
    )


def _fences_off_topics(document: dict[str, Any]) -> bool:
    """The policy has an unconditional Deny of sns:Publish on every topic ARN."""
    return any(
        statement.get("Effect") == "Deny"
        and not {"Condition", "NotAction", "NotResource"} & set(statement)
        and "sns:Publish" in _as_list(statement.get("Action", []))
        and any(_is_every_topic(r) for r in _as_list(statement.get("Resource", [])))
        for statement in _statements(document)
    )


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


def _roles(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}


def _alarms(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]


def _function_dir(sam_template: dict[str, Any], function_id: str) -> str:
    """The functions/<dir> a function's code is in: its name in recoup.settings."""
    code_uri = sam_template["Resources"][function_id]["Properties"]["CodeUri"]
    return str(code_uri).removeprefix("functions/").rstrip("/")


def _environments(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's environment variables after the transform (Globals merged in)."""
    return {
        logical_id: function["Properties"]["Environment"]["Variables"]
        for logical_id, function in _lambda_functions(resources).items()
    }


def _values_of(resources: dict[str, Any], name: str) -> list[Any]:
    """The value every function that has variable `name` gives it (at least one does)."""
    values = [env[name] for env in _environments(resources).values() if name in env]
    assert values, f"no function has {name}"
    return values


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
    assert set(sam_template["Parameters"]) == {
        "Stage",
        "LogLevel",
        "SenderAddress",
        "PublicBaseUrl",
        "CustomDomainName",
        "CertificateArn",
        "EmailIdentity",
        "MailFromSubdomain",
        "SmsOriginationIdentity",
        "TwoWaySmsPhoneNumberId",
        "AlarmEmail",
        "LogRetentionDays",
        "ShopifyApiKey",
        "CaseFileRetentionDays",
        "SmsStatusLogGroups",
        "StripeConnectClientId",
        "SmsMonthlySpendAlarmUSD",
    }
    assert sam_template["Parameters"]["Stage"]["AllowedValues"] == ["dev", "staging", "prod"]
    assert resource_ids >= {
        "RecoupLayer",
        *FUNCTIONS,
        "HttpApi",
        "Table",
        "EventsQueue",
        "EventsQueueMapping",
        "EventsDeadLetterQueue",
        "EventsDeadLetterAlarm",
        "ReminderQueue",
        "ReminderQueueMapping",
        "ReminderDeadLetterQueue",
        "ReminderDeadLetterAlarm",
        "FeedbackDeadLetterQueue",
        "FeedbackDeadLetterAlarm",
        "EmailConfigurationSet",
        "EmailFeedbackDestination",
        "EmailFeedbackTopic",
        "EmailFeedbackTopicPolicy",
        "InboundSmsTopic",
        "SenderEmailIdentity",
        "PublicBaseUrlParameter",
        "ApiDomainName",
        "ApiDomainMapping",
        "DataKey",
        "DataKeyAlias",
        "CaseFileSigningKey",
        "CaseFileSigningKeyAlias",
        "TokenKey",
        "TokenKeyAlias",
        "AlarmKey",
        "AlarmTopic",
        "AlarmTopicPolicy",
        "AlarmEmailSubscription",
        "ShopifyTasksQueue",
        "ShopifyTasksQueueMapping",
        "ShopifyTasksDeadLetterQueue",
        "ShopifyTasksDeadLetterAlarm",
        "PrivacyQueue",
        "PrivacyQueueMapping",
        "PrivacyDeadLetterQueue",
        "PrivacyDeadLetterAlarm",
        "CaseFilesBucket",
        "CaseFilesBucketPolicy",
        "QueueBodiesBucket",
        "QueueBodiesBucketPolicy",
        "EscalationQueue",
        "EscalationQueueMapping",
        "EscalationDeadLetterQueue",
        "EscalationDeadLetterAlarm",
        "PlanChargesQueue",
        "PlanChargesQueueMapping",
        "PlanChargesDeadLetterQueue",
        "PlanChargesDeadLetterAlarm",
        "HandOverQueue",
        "HandOverQueueMapping",
        "HandOverDeadLetterQueue",
        "HandOverDeadLetterAlarm",
        "SchedulerDeadLetterQueue",
        "SchedulerDeadLetterAlarm",
        "SchedulerHeartbeatAlarm",
        "SchedulerBacklogAlarm",
        "Dashboard",
        "TableThrottledAlarm",
        "EmailBounceRateAlarm",
        "EmailComplaintRateAlarm",
        "SmsSpendAlarm",
        *(f"{f.removesuffix('Function')}ThrottlesAlarm" for f in FUNCTIONS),
    }
    assert set(sam_template["Outputs"]) == {
        "ApiUrl",
        "PublicUrl",
        "CustomDomainTarget",
        "CustomDomainHostedZoneId",
        "DkimRecord1",
        "DkimRecord2",
        "DkimRecord3",
        "MailFromMxRecord",
        "MailFromSpfRecord",
        "TwoWaySmsCommand",
        "TableName",
        "EventsQueueUrl",
        "EventsDeadLetterQueueUrl",
        "ReminderQueueUrl",
        "ReminderDeadLetterQueueUrl",
        "EmailFeedbackTopicArn",
        "SmsStatusLogRoleArn",
        "InboundSmsTopicArn",
        "ShopifyTasksQueueUrl",
        "ShopifyTasksDeadLetterQueueUrl",
        "CaseFileSigningKeyArn",
        "AlarmTopicArn",
        "DashboardUrl",
    }


def test_sender_address_has_exactly_one_at_sign(sam_template: dict[str, Any]) -> None:
    # Given the SenderAddress parameter (the SES policy takes its domain as the part after "@")
    parameter = sam_template["Parameters"]["SenderAddress"]
    pattern = parameter["AllowedPattern"]
    # When its default and some bad values are matched against its pattern
    # Then the default passes, and no value with zero or two "@" (or a space) does
    assert re.fullmatch(pattern, parameter["Default"])
    for bad in ("reminders", "a@b@recoup.example", "@recoup.example", "a@", "a b@recoup.example"):
        assert not re.fullmatch(pattern, bad), bad
    # and the public URL is derived unless overridden (test_public_base_url_is_known_...)
    assert sam_template["Parameters"]["PublicBaseUrl"]["Default"] == ""


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
    # Then the module defines the handler as a plain top-level function, or binds it to the
    # shared SQS consumer (recoup.jobs.sqs_handler, which returns such a function)
    assert handler_name not in async_defined, f"{source}: Lambda cannot call an async handler"
    if handler_name not in defined:
        bound = [
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == [handler_name]
        ]
        assert bound, f"{source} defines no top-level function {handler_name}"
        (call,) = bound
        assert isinstance(call, ast.Call) and getattr(call.func, "id", None) == "sqs_handler"
        return
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
    # Given every identity-based policy after the SAM transform
    policies = list(_iam_policies(resources))
    assert policies, "the transform produced no IAM policies: check the fixture"
    problems = []
    for logical_id, _, document in policies:
        for statement in _statements(document):
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
                if "*" not in resources_ or verb.startswith(READ_ONLY_VERBS):
                    continue
                # SMS to a phone number has no resource ARN: sns:Publish on "*" is allowed
                # only where the same policy denies Publish on every topic
                if action == "sns:Publish" and _fences_off_topics(document):
                    continue
                problems.append(f"{logical_id}: {action} on Resource *")
    # Then no statement allows every action of a service, or a write on every resource
    assert problems == []


def test_only_the_sms_senders_publish_and_never_to_a_topic(resources: dict[str, Any]) -> None:
    # Given every policy with an Allow that covers sns:Publish
    publishing: dict[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = {}
    for logical_id, _, document in _iam_policies(resources):
        allows = [
            s
            for s in _statements(document)
            if s.get("Effect") == "Allow"
            and {"sns:publish", "sns:*", "*"} & {str(a).lower() for a in _as_list(s["Action"])}
        ]
        if allows:
            publishing.setdefault(logical_id, []).append((document, allows))
    # When the roles are listed
    # Then only the sender (reminders) and the feedback function (answers to HELP) publish
    assert set(publishing) == SMS_SENDERS
    for logical_id, entries in publishing.items():
        for document, allows in entries:
            # and each Allow is sns:Publish alone, on "*" alone (a phone number has no ARN)
            for statement in allows:
                assert _as_list(statement["Action"]) == ["sns:Publish"], logical_id
                assert _as_list(statement["Resource"]) == ["*"], logical_id
                assert "Condition" not in statement, logical_id
            # and the same policy denies Publish on arn:<partition>:sns:*:*:*, unconditionally
            assert _fences_off_topics(document), f"{logical_id}: no Deny on every topic"


def test_roles_attach_only_the_managed_policies_sam_adds(resources: dict[str, Any]) -> None:
    # Given every IAM role after the transform
    roles = _roles(resources)
    assert set(roles) == ROLES | {SCHEDULE_ROLE, SMS_STATUS_ROLE}
    for logical_id, role in roles.items():
        if logical_id in (SCHEDULE_ROLE, SMS_STATUS_ROLE):
            continue  # checked in test_the_schedule_may_only_invoke_the_scheduler and below
        # When its managed and inline policies are listed
        attached = set(role["Properties"].get("ManagedPolicyArns", []))
        inline = {p["PolicyName"] for p in role["Properties"].get("Policies", [])}
        # Then the managed ones are only SAM's logging and tracing policies
        assert attached <= ALLOWED_MANAGED_POLICIES, logical_id
        # and the inline ones are the template's own, plus SAM's statement for the feedback
        # function's DeadLetterQueue
        sam_added = {"DeadLetterQueuePolicy"} if logical_id == "FeedbackFunctionRole" else set()
        assert inline == {f"{logical_id}Policy0", *sam_added}, logical_id
    # and that statement sends to the feedback dead-letter queue and nowhere else
    (dlq_policy,) = [
        p["PolicyDocument"]
        for p in roles["FeedbackFunctionRole"]["Properties"]["Policies"]
        if p["PolicyName"] == "DeadLetterQueuePolicy"
    ]
    (statement,) = _statements(dlq_policy)
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": ["FeedbackDeadLetterQueue", "Arn"]}]


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
        encrypt = [s for s in statements if "kms:GenerateDataKey" in _as_list(s["Action"])]
        # and the data key only to encrypt an oversized event S3 stores, through S3 alone
        assert [_as_list(e["Action"]) for e in encrypt] == [["kms:GenerateDataKey"]], role_id
        assert encrypt[0]["Condition"] == {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
        }
        assert {g for g in _grants(resources, role_id) if g[0].startswith("s3:")} == {
            ("s3:PutObject", "<QueueBodiesBucket.Arn>/inbox/*")
        }
        # Then SSM access is that one parameter, and decryption only through SSM for it
        assert len(ssm) == 1, role_id
        assert [r["Fn::Sub"] for r in _as_list(ssm[0]["Resource"])] == [
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + parameter
        ]
        assert len(kms) == 1, role_id
        condition = kms[0]["Condition"]["StringEquals"]
        assert condition["kms:ViaService"] == {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
        assert condition["kms:EncryptionContext:PARAMETER_ARN"]["Fn::Sub"].endswith(parameter)
        # and no access to the table, to email or SMS: they only enqueue
        services = {str(a).partition(":")[0] for s in statements for a in _as_list(s["Action"])}
        assert services == {"sqs", "ssm", "kms", "s3"}, role_id


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
        if any(a.startswith("kms:") for a in actions) and statement["Sid"] != (
            "DecryptIdentityHashKey"  # through SSM only: test_data_key_is_used_directly_...
        ):
            assert targets == [{"Fn::GetAtt": ["DataKey", "Arn"]}]


def test_scheduler_only_queries_the_due_index_and_queues_jobs(resources: dict[str, Any]) -> None:
    # Given the scheduler's grants
    grants = _grants(resources, "SchedulerFunctionRole")
    # When they are grouped by service
    services = {action.partition(":")[0] for action, _ in grants}
    # Then it may Query the `due` index and the notice registry, read and write its cursor
    # item in the table, and send to the reminder, escalation, hand-over and plan charges
    # queues
    assert {g for g in grants if g[0].startswith(("dynamodb:", "sqs:"))} == {
        ("dynamodb:Query", "<Table.Arn>/index/due"),
        ("dynamodb:Query", "<Table.Arn>"),
        ("dynamodb:GetItem", "<Table.Arn>"),
        ("dynamodb:PutItem", "<Table.Arn>"),
        ("sqs:SendMessage", "<ReminderQueue.Arn>"),
        ("sqs:SendMessage", "<EscalationQueue.Arn>"),
        ("sqs:SendMessage", "<HandOverQueue.Arn>"),
        ("sqs:SendMessage", "<PlanChargesQueue.Arn>"),
    }
    # and the table's items only under the SCHEDULER partition key (its cursors)
    (cursor_statement,) = [
        s
        for role_id, s in _iam_statements(resources)
        if role_id == "SchedulerFunctionRole" and "dynamodb:PutItem" in _as_list(s["Action"])
    ]
    assert cursor_statement["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["SCHEDULER"]}
    }
    # and the table's Query only under the notice registry's partition keys
    (registry_statement,) = [
        s
        for role_id, s in _iam_statements(resources)
        if role_id == "SchedulerFunctionRole"
        and _as_list(s["Action"]) == ["dynamodb:Query"]
        and "Condition" in s
    ]
    assert registry_statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["NOTIFY#*"]}
    }
    # and otherwise only decrypt with the data key
    assert services == {"dynamodb", "sqs", "kms"}
    assert {g for g in grants if g[0].startswith("kms:")} == {("kms:Decrypt", "<DataKey.Arn>")}


def test_the_schedule_may_only_invoke_the_scheduler(resources: dict[str, Any]) -> None:
    # Given the role EventBridge Scheduler assumes for the scheduler's schedule
    role = _roles(resources)[SCHEDULE_ROLE]["Properties"]
    # When its trust and grants are read
    (trust,) = _statements(role["AssumeRolePolicyDocument"])
    # Then only EventBridge Scheduler may assume it
    assert trust["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    # and it may invoke the scheduler and send undeliverable invocations to its DLQ, nothing else
    assert role.get("ManagedPolicyArns", []) == []
    assert _grants(resources, SCHEDULE_ROLE) == {
        ("lambda:InvokeFunction", "<SchedulerFunction.Arn>"),
        ("sqs:SendMessage", "<SchedulerDeadLetterQueue.Arn>"),
    }


def test_the_schedule_retries_dead_letters_and_sends_its_time_and_run_id(
    resources: dict[str, Any],
) -> None:
    # Given the scheduler's EventBridge Scheduler schedule
    (schedule,) = [
        v["Properties"] for v in resources.values() if v["Type"] == "AWS::Scheduler::Schedule"
    ]
    target = schedule["Target"]
    # Then it fires on time, every five minutes, with the slot's time as the event's `time`
    # and the run's id, the correlation id of every job the run queues
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(target["Input"]) == {
        "time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
    }
    # and an invocation that fails is retried, then dead-lettered to an alarmed queue
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["SchedulerDeadLetterQueue", "Arn"]}
    }
    # and the scheduler runs one at a time (its cursors assume a single reader), within a slot
    function = resources["SchedulerFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Timeout"] < 300


def test_scheduler_heartbeat_alarm_fires_when_no_run_was_seen(
    resources: dict[str, Any],
) -> None:
    # Given the alarm on the scheduler's heartbeat metric
    (alarm,) = [a for a in _alarms(resources) if a.get("MetricName") == "SchedulerRuns"]
    # Then fewer than one run in 15 minutes, or no data at all, is an alarm
    assert (alarm["Namespace"], alarm["Statistic"]) == ("Recoup", "Sum")
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 900
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    # and it watches the dimension Powertools gives the metric (the service name)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "recoup"}]


def test_only_the_table_is_reachable_and_only_item_by_item(resources: dict[str, Any]) -> None:
    # Given the table resources each role is meant to reach (webhooks: none)
    expected = {
        "EventWorkerFunctionRole": {"<Table.Arn>", "<Table.Arn>/index/*"},
        "SchedulerFunctionRole": {"<Table.Arn>/index/due", "<Table.Arn>"},
        # a merchant's notice finds what waits through the shop index (`N#` keys)
        "SenderFunctionRole": {"<Table.Arn>", "<Table.Arn>/index/shop"},
        "FeedbackFunctionRole": {"<Table.Arn>"},
        "UnsubscribeFunctionRole": {"<Table.Arn>"},
        "PayLinkFunctionRole": {"<Table.Arn>"},
        "CustomerPageFunctionRole": {"<Table.Arn>"},
        "ShopifyAuthFunctionRole": {"<Table.Arn>"},
        "ShopifyTasksFunctionRole": {"<Table.Arn>"},
        # case lists and shop/redact find a shop's cases through the keys-only shop index
        "AdminApiFunctionRole": {"<Table.Arn>", "<Table.Arn>/index/shop"},
        "PrivacyFunctionRole": {"<Table.Arn>", "<Table.Arn>/index/shop"},
        "EscalationFunctionRole": {"<Table.Arn>"},
        "PlanChargesFunctionRole": {"<Table.Arn>"},
        "HandOverFunctionRole": {"<Table.Arn>"},
        "ReferralReportFunctionRole": {"<Table.Arn>"},
    }
    for role_id in _roles(resources):
        # When a role's DynamoDB grants are resolved
        grants = {g for g in _grants(resources, role_id) if g[0].startswith("dynamodb:")}
        # Then they name only its expected table resources, with per-item actions only
        assert {target for _, target in grants} == expected.get(role_id, set()), role_id
        assert {action for action, _ in grants} <= PER_ITEM_ACTIONS, role_id
    # and the opt-out paths only read and write items one by one (the feedback function's
    # delivery reports are a transaction: an audit entry with its absent-only marker)
    item_by_item = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    for role_id, allowed in (
        ("FeedbackFunctionRole", item_by_item | {"dynamodb:ConditionCheckItem"}),
        ("UnsubscribeFunctionRole", item_by_item),
        # the shop's token item: read, and conditional updates to refresh an expiring token
        ("ShopifyTasksFunctionRole", {"dynamodb:GetItem", "dynamodb:UpdateItem"}),
    ):
        actions = {a for a, _ in _grants(resources, role_id) if a.startswith("dynamodb:")}
        assert actions == allowed, role_id


def test_each_role_reaches_only_its_own_queues(resources: dict[str, Any]) -> None:
    # Given the SQS access each role is meant to have
    expected = {
        "ShopifyWebhookFunctionRole": {
            ("sqs:SendMessage", "<EventsQueue.Arn>"),
            ("sqs:SendMessage", "<PrivacyQueue.Arn>"),
        },
        # account.application.deauthorized is a job for the privacy (shop jobs) worker
        "StripeWebhookFunctionRole": {
            ("sqs:SendMessage", "<EventsQueue.Arn>"),
            ("sqs:SendMessage", "<PrivacyQueue.Arn>"),
        },
        # a record's last failure is moved aside: a reference to its body goes to the DLQ;
        # a case the fraud check flags queues its customer's tag
        "EventWorkerFunctionRole": {
            *((a, "<EventsQueue.Arn>") for a in SQS_CONSUME),
            ("sqs:SendMessage", "<EventsDeadLetterQueue.Arn>"),
            ("sqs:SendMessage", "<ShopifyTasksQueue.Arn>"),
        },
        "SchedulerFunctionRole": {
            ("sqs:SendMessage", "<ReminderQueue.Arn>"),
            ("sqs:SendMessage", "<EscalationQueue.Arn>"),
            ("sqs:SendMessage", "<HandOverQueue.Arn>"),  # due hand-overs, from the outbox
            ("sqs:SendMessage", "<PlanChargesQueue.Arn>"),  # instalment plans' due jobs
        },
        "SenderFunctionRole": {(a, "<ReminderQueue.Arn>") for a in SQS_CONSUME},
        # SAM's statement for the function's DeadLetterQueue (asynchronous SNS invocations)
        "FeedbackFunctionRole": {("sqs:SendMessage", "<FeedbackDeadLetterQueue.Arn>")},
        "UnsubscribeFunctionRole": set(),
        "PayLinkFunctionRole": set(),
        "CustomerPageFunctionRole": set(),
        "ShopifyAuthFunctionRole": set(),
        "ShopifyTasksFunctionRole": {(a, "<ShopifyTasksQueue.Arn>") for a in SQS_CONSUME},
        # a merchant's fraud confirmation queues the customer's tag; a referral its
        # hand-over; a test message its job for the sender
        "AdminApiFunctionRole": {
            ("sqs:SendMessage", "<ShopifyTasksQueue.Arn>"),
            ("sqs:SendMessage", "<HandOverQueue.Arn>"),
            ("sqs:SendMessage", "<ReminderQueue.Arn>"),
        },
        "PrivacyFunctionRole": {
            *((a, "<PrivacyQueue.Arn>") for a in SQS_CONSUME),
            ("sqs:SendMessage", "<PrivacyDeadLetterQueue.Arn>"),
        },
        # a referral queues its hand-over and the customer's tag
        "EscalationFunctionRole": {
            *((a, "<EscalationQueue.Arn>") for a in SQS_CONSUME),
            ("sqs:SendMessage", "<HandOverQueue.Arn>"),
            ("sqs:SendMessage", "<ShopifyTasksQueue.Arn>"),
        },
        # a charge's failure is the sender's notice, due from the case's due index
        "PlanChargesFunctionRole": {(a, "<PlanChargesQueue.Arn>") for a in SQS_CONSUME},
        # retries come from the case's due index (the scheduler queues them), not the worker
        "HandOverFunctionRole": {(a, "<HandOverQueue.Arn>") for a in SQS_CONSUME},
        "ReferralReportFunctionRole": set(),
    }
    assert set(expected) == ROLES
    for role_id, queues in expected.items():
        # When its SQS grants are resolved
        grants = {g for g in _grants(resources, role_id) if g[0].startswith("sqs:")}
        # Then they are exactly those
        assert grants == queues, role_id


def test_email_is_sent_only_from_the_sender_domain_through_the_configuration_set(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    default_address = sam_template["Parameters"]["SenderAddress"]["Default"]
    for address in (default_address, "billing@mail.shop.example"):
        # Given a SenderAddress, and the ARNs it and the configuration set resolve to
        names = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "Stage": "dev",
            "SenderAddress": address,
        }
        names["EmailConfigurationSet"] = _resolve(
            resources["EmailConfigurationSet"]["Properties"]["Name"], names
        )
        # When every Allow of an SES action is found, sends apart from reads
        ses = [
            (role_id, s)
            for role_id, s in _iam_statements(resources)
            if s.get("Effect") == "Allow"
            and any(str(a).lower().startswith("ses:") or a == "*" for a in _as_list(s["Action"]))
        ]
        reads = [(r, s) for r, s in ses if _as_list(s["Action"]) == ["ses:GetEmailIdentity"]]
        sends = [(r, s) for r, s in ses if (r, s) not in reads]
        # Then only the sender (reminders), the privacy worker (export links to merchants)
        # and the hand-over worker (referrals to agencies) have one each: SES v2 SendEmail, on
        # the identity of the address and of its domain (SES checks the most specific one
        # verified) and on this stack's configuration set, and nothing else
        # (and the customer's page: a fresh link, once, to the address on file)
        assert sorted(role_id for role_id, _ in sends) == [
            "CustomerPageFunctionRole",
            "HandOverFunctionRole",
            "PrivacyFunctionRole",
            "SenderFunctionRole",
        ]
        domain = address.rpartition("@")[2]
        identities = [
            f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{address}",
            f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/{domain}",
        ]
        for role_id, statement in sends:
            assert _as_list(statement["Action"]) == ["ses:SendEmail"], role_id
            assert sorted(_resolve(_as_list(statement["Resource"]), names)) == sorted(
                [f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:configuration-set/recoup-dev", *identities]
            ), (role_id, address)
        # and only the admin API (the onboarding checklist) reads those two identities' state
        assert [role_id for role_id, _ in reads] == ["AdminApiFunctionRole"]
        for _, statement in reads:
            assert sorted(_resolve(_as_list(statement["Resource"]), names)) == sorted(identities)


def test_the_sending_domain_is_declared_with_dkim_mail_from_and_the_configuration_set(
    sam_template: dict[str, Any],
) -> None:
    # Given the SES identity the template declares, and its outputs
    identity = sam_template["Resources"]["SenderEmailIdentity"]
    props = identity["Properties"]
    outputs = sam_template["Outputs"]
    names = {"SenderAddress": "reminders@mail.shop.example", "MailFromSubdomain": "bounce"}
    # Then it is the domain of SenderAddress, unless another stage declared it already
    assert identity["Condition"] == "CreatesEmailIdentity"
    assert _resolve(props["EmailIdentity"], names) == "mail.shop.example"
    assert sam_template["Parameters"]["EmailIdentity"]["AllowedValues"] == ["create", "existing"]
    # with Easy DKIM (2048-bit keys, no key of ours) and this stack's configuration set
    assert props["DkimSigningAttributes"] == {"NextSigningKeyLength": "RSA_2048_BIT"}
    assert props["ConfigurationSetAttributes"] == {
        "ConfigurationSetName": {"Ref": "EmailConfigurationSet"}
    }
    # and mail from <label>.<domain> when a label is given, falling back to SES's own
    condition, mail_from, absent = props["MailFromAttributes"]["Fn::If"]
    assert condition == "HasMailFromSubdomain" and absent == {"Ref": "AWS::NoValue"}
    assert _resolve(mail_from["MailFromDomain"], names) == "bounce.mail.shop.example"
    assert mail_from["BehaviorOnMxFailure"] == "USE_DEFAULT_VALUE"
    # and the outputs name the DNS records to create: three DKIM CNAMEs, MX and SPF
    for number in (1, 2, 3):
        record = _resolve(outputs[f"DkimRecord{number}"]["Value"])
        assert record == (
            f"<SenderEmailIdentity.DkimDNSTokenName{number}> CNAME "
            f"<SenderEmailIdentity.DkimDNSTokenValue{number}>"
        )
        assert outputs[f"DkimRecord{number}"]["Condition"] == "CreatesEmailIdentity"
    names["AWS::Region"] = REGION
    assert _resolve(outputs["MailFromMxRecord"]["Value"], names) == (
        f"bounce.mail.shop.example MX 10 feedback-smtp.{REGION}.amazonses.com"
    )
    assert _resolve(outputs["MailFromSpfRecord"]["Value"], names) == (
        'bounce.mail.shop.example TXT "v=spf1 include:amazonses.com ~all"'
    )
    assert {outputs[o]["Condition"] for o in ("MailFromMxRecord", "MailFromSpfRecord")} == {
        "CreatesMailFrom"
    }


def _choose(value: Any, conditions: Mapping[str, bool]) -> Any:
    """Evaluate Fn::If against the given condition values (recursively)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, yes, no = value["Fn::If"]
        return _choose(yes if conditions[condition] else no, conditions)
    return value


@pytest.mark.parametrize(
    ("override", "domain", "expected"),
    [
        ("", "", "https://<HttpApi>.execute-api.us-east-1.amazonaws.com"),
        ("", "recoup.shop.example", "https://recoup.shop.example"),
        ("https://pay.shop.example", "recoup.shop.example", "https://pay.shop.example"),
    ],
)
def test_public_base_url_is_known_in_one_deploy_without_a_cycle(
    sam_template: dict[str, Any],
    resources: dict[str, Any],
    override: str,
    domain: str,
    expected: str,
) -> None:
    # Given the parameter the stack writes the public base URL to, and its output
    parameter = sam_template["Resources"]["PublicBaseUrlParameter"]["Properties"]
    names = {
        "Stage": "dev",
        "PublicBaseUrl": override,
        "CustomDomainName": domain,
        "AWS::Region": REGION,
        "AWS::URLSuffix": "amazonaws.com",
    }
    conditions = {"HasPublicBaseUrl": bool(override), "HasCustomDomain": bool(domain)}
    # When its value is resolved for an override, a custom domain, or neither
    value = _resolve(_choose(parameter["Value"], conditions), names)
    # Then it is the override, else the custom domain, else the API's own URL
    assert value == expected
    output = sam_template["Outputs"]["PublicUrl"]["Value"]
    assert _resolve(_choose(output, conditions), names) == expected
    # and it is a String at the name the functions that need it are given (a plain string,
    # so the functions do not depend on the API that depends on them)
    assert parameter["Type"] == "String"
    for given in _values_of(resources, "RECOUP_PUBLIC_URL_PARAM"):
        assert _resolve(parameter["Name"], names) == _resolve(given, names)
        assert given == {"Fn::Sub": "/recoup/${Stage}/public-base-url"}


def test_the_custom_domain_maps_to_the_api_when_given(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    # Given the custom domain's resources and outputs
    domain, mapping = resources["ApiDomainName"], resources["ApiDomainMapping"]
    # Then they exist only with a domain name, which needs a certificate
    assert domain["Condition"] == mapping["Condition"] == "HasCustomDomain"
    rule = sam_template["Rules"]["CustomDomainNeedsCertificate"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]
    }
    # and the domain is regional, on the given certificate, mapped to the API's stage
    (configuration,) = domain["Properties"]["DomainNameConfigurations"]
    assert configuration["EndpointType"] == "REGIONAL"
    assert configuration["CertificateArn"] == {"Ref": "CertificateArn"}
    assert mapping["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert mapping["Properties"]["Stage"] == {"Ref": "HttpApi.Stage"}
    # and the outputs give the DNS target
    for output in ("CustomDomainTarget", "CustomDomainHostedZoneId"):
        assert sam_template["Outputs"][output]["Condition"] == "HasCustomDomain"


def test_sms_origination_identity_is_a_number_or_a_sender_id(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the SmsOriginationIdentity parameter and the functions that send SMS
    parameter = sam_template["Parameters"]["SmsOriginationIdentity"]
    pattern = parameter["AllowedPattern"]
    given = _values_of(resources, "RECOUP_SMS_ORIGINATION_IDENTITY")
    assert given == [{"Ref": "SmsOriginationIdentity"}] * len(given)
    # Then empty (SNS chooses), an E.164 number or a 1-11 character sender ID pass
    for good in ("", "+12065550100", "+447700900123", "Recoup", "SHOP24", "A"):
        assert re.fullmatch(pattern, good), good
    # and nothing else does
    for bad in ("12065550100", "+0123", "+1206555010012345", "TwelveChars1", "12345", "Re coup"):
        assert not re.fullmatch(pattern, bad), bad
    # and a function's cold start accepts a value exactly when the parameter does
    checked = VARIABLES["sms_origination_identity"].pattern
    for value in ("+12065550100", "Recoup", "A", "12065550100", "+0123", "TwelveChars1", "12345"):
        assert bool(re.fullmatch(checked, value)) == bool(re.fullmatch(pattern, value)), value
    # and a two-way number, when named, gets the one command that points it at the topic
    output = sam_template["Outputs"]["TwoWaySmsCommand"]
    assert output["Condition"] == "HasTwoWaySmsNumber"
    command = _resolve(output["Value"], {"TwoWaySmsPhoneNumberId": "phone-1234"})
    assert command.split() == [
        "aws",
        "pinpoint-sms-voice-v2",
        "update-phone-number",
        "--region",
        "<AWS::Region>",
        "--phone-number-id",
        "phone-1234",
        "--two-way-enabled",
        "--two-way-channel-arn",
        "<InboundSmsTopic>",
    ]


def test_data_key_is_used_directly_and_other_keys_only_through_ssm(
    resources: dict[str, Any],
) -> None:
    # Given every Allow of a KMS action
    data_key_users, ssm_decrypters, signers, s3_encrypters = set(), set(), set(), set()
    for role_id, statement in _iam_statements(resources):
        actions = _as_list(statement.get("Action", []))
        if statement.get("Effect") != "Allow" or not any(a.startswith("kms:") for a in actions):
            continue
        # When its resources are resolved
        targets = _resolve(_as_list(statement["Resource"]))
        if targets == ["<DataKey.Arn>"] and actions == ["kms:GenerateDataKey"]:
            # Then it is the stack's data key: either only to encrypt what S3 stores for the
            # role (the webhooks' oversized events), never to decrypt
            assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
                "Fn::Sub": "s3.${AWS::Region}.amazonaws.com"
            }, role_id
            s3_encrypters.add(role_id)
        elif targets == ["<DataKey.Arn>"]:
            # or for encryption and decryption only
            assert set(actions) <= {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"}
            data_key_users.add(role_id)
        elif targets == ["<CaseFileSigningKey.Arn>"]:
            # or the case-file signing key, to sign and nothing else
            assert actions == ["kms:Sign"], role_id
            signers.add(role_id)
        elif targets == ["<TokenKey.Arn>"]:
            continue  # shops' tokens: test_only_the_shopify_caller_can_decrypt_tokens
        else:
            # or it is a decryption that only SSM may do on the role's behalf (SecureString)
            assert actions == ["kms:Decrypt"], role_id
            assert targets == ["arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"]
            assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
                "Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"
            }, role_id
            ssm_decrypters.add(role_id)
    # and the webhooks never decrypt with the data key; only the secret readers decrypt
    # through SSM
    webhooks = {"ShopifyWebhookFunctionRole", "StripeWebhookFunctionRole"}
    assert data_key_users == ROLES - webhooks
    assert s3_encrypters == webhooks
    # and only the functions that write case files (the escalation function; the admin API,
    # for a referral by hand) may sign them
    assert signers == {"EscalationFunctionRole", "AdminApiFunctionRole"}
    assert ssm_decrypters == {
        "ShopifyWebhookFunctionRole",
        "StripeWebhookFunctionRole",
        "EventWorkerFunctionRole",
        "SenderFunctionRole",
        "FeedbackFunctionRole",
        "UnsubscribeFunctionRole",
        "PayLinkFunctionRole",
        "CustomerPageFunctionRole",
        "AdminApiFunctionRole",
        "ShopifyAuthFunctionRole",
        "ShopifyTasksFunctionRole",
        "PrivacyFunctionRole",
        "EscalationFunctionRole",
        "PlanChargesFunctionRole",
        "HandOverFunctionRole",
        "ReferralReportFunctionRole",
    }


@pytest.mark.parametrize(
    ("role_id", "direct_actions"),
    [
        ("ShopifyAuthFunctionRole", {"kms:Encrypt"}),
        # decrypts to call the Admin API; encrypts the token a refresh gives
        ("ShopifyTasksFunctionRole", {"kms:Decrypt", "kms:Encrypt"}),
    ],
)
def test_shop_tokens_meet_the_token_key_only_bound_to_their_shop(
    resources: dict[str, Any], role_id: str, direct_actions: set[str]
) -> None:
    # Given the role's statements on the token key and on the data key
    def on(key: str) -> list[dict[str, Any]]:
        return [
            s
            for r, s in _iam_statements(resources)
            if r == role_id and _resolve(_as_list(s["Resource"])) == [f"<{key}.Arn>"]
        ]

    bound_actions: set[str] = set()
    for statement in on("TokenKey"):
        # When its condition is read
        condition = statement.get("Condition", {})
        # Then the token key is used directly with a shop's domain, and nothing else, as the
        # encryption context
        assert condition.get("StringLike", {}).get("kms:EncryptionContext:shop") == (
            "*.myshopify.com"
        ), statement
        assert condition.get("ForAllValues:StringEquals", {}).get("kms:EncryptionContextKeys") == [
            "shop"
        ], statement
        bound_actions.update(_as_list(statement["Action"]))
    # and the direct use is the one the function needs (install encrypts, the worker decrypts
    # and, refreshing a token, encrypts)
    assert bound_actions == direct_actions
    # and the data key only by DynamoDB, for the table, on the role's behalf
    for statement in on("DataKey"):
        assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
            "Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"
        }, statement


def _may_decrypt(statement: dict[str, Any], key_arn: str) -> bool:
    """An Allow that could decrypt with the key of this ARN outside SSM (an SSM SecureString
    decryption carries the parameter's ARN as its context, never a shop)."""
    actions = _as_list(statement.get("Action", []))
    decrypts = any(
        a in {"*", "kms:*", "kms:Decrypt"} or a.startswith("kms:ReEncrypt") for a in actions
    )
    targets = [str(t) for t in _resolve(_as_list(statement.get("Resource", [])))]
    reaches = any(t in {key_arn, "*"} or t.endswith(":key/*") for t in targets)
    via_ssm = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService") == {
        "Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"
    }
    return statement.get("Effect") == "Allow" and decrypts and reaches and not via_ssm


def test_only_the_shopify_caller_can_decrypt_tokens(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the key the functions encrypt shops' tokens with (recoup/store/tokens.py)
    (token_key_arn,) = {json.dumps(v) for v in _values_of(resources, "RECOUP_TOKEN_KEY_ARN")}
    token_key, _ = _get_att(json.loads(token_key_arn)) or ("", "")
    # When every role's statements are checked for a decryption that could reach it
    decrypters = {
        role_id
        for role_id, statement in _iam_statements(resources)
        if _may_decrypt(statement, f"<{token_key}.Arn>")
    }
    # Then only the functions that call the Admin API can (the Shopify tasks worker; the plan
    # charges function, which cancels unpaid orders), not the public unsubscribe, report-back
    # or admin API functions, nor any other
    assert decrypters == {"ShopifyTasksFunctionRole", "PlanChargesFunctionRole"}
    # and the key is not the one the table, the bucket or anything else is encrypted with
    assert token_key != "DataKey"
    assert resources["Table"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {
        "Ref": "DataKey"
    }
    for data_key in _values_of(resources, "RECOUP_KMS_KEY_ARN"):
        assert data_key == {"Fn::GetAtt": ["DataKey", "Arn"]}
    # and its key policy refuses any use that does not name a shop, whatever IAM allows
    (deny,) = [
        st
        for st in _statements(resources[token_key]["Properties"]["KeyPolicy"])
        if st["Effect"] == "Deny"
    ]
    assert {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"} <= set(
        _as_list(deny["Action"])
    )
    assert deny["Condition"] == {"Null": {"kms:EncryptionContext:shop": "true"}}


def test_secrets_are_read_only_by_the_functions_that_use_them(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the SSM parameters each role needs, and the ones the environment names
    expected = {
        "ShopifyWebhookFunctionRole": {"shopify-api-secret"},
        "StripeWebhookFunctionRole": {"stripe-webhook-secret"},
        # the identity-hash key: whoever reads or writes records keyed by an email or phone
        "EventWorkerFunctionRole": {"identity-hash-key"},
        # public-base-url: links and OAuth redirects (a String, no decryption)
        "SenderFunctionRole": {"link-signing-secret", "identity-hash-key", "public-base-url"},
        # the pay link makes the Checkout Session on the click
        "PayLinkFunctionRole": {"link-signing-secret", "stripe-api-key", "identity-hash-key"},
        "FeedbackFunctionRole": {"identity-hash-key"},
        "UnsubscribeFunctionRole": {"link-signing-secret"},
        # its own link, the pay link and form tokens; a request is a case write; Checkout for
        # an instalment plan or a settlement offer
        "CustomerPageFunctionRole": {
            "link-signing-secret",
            "identity-hash-key",
            "public-base-url",
            "stripe-api-key",
        },
        # Stripe Connect: the callback exchanges the code, the admin API starts and revokes
        "ShopifyAuthFunctionRole": {"shopify-api-secret", "stripe-api-key", "public-base-url"},
        # a token refresh is signed with the app's client secret
        "ShopifyTasksFunctionRole": {"shopify-api-secret"},
        "AdminApiFunctionRole": {
            "shopify-api-secret",
            "identity-hash-key",
            "stripe-api-key",
            "public-base-url",
        },
        "PrivacyFunctionRole": {"identity-hash-key"},
        "EscalationFunctionRole": {"identity-hash-key"},
        # the instalment's charge; the plan's outcome is a case write
        "PlanChargesFunctionRole": {"stripe-api-key", "identity-hash-key", "shopify-api-secret"},
        # shops' hand-over secrets, one parameter per shop and secret_ref under this prefix
        "HandOverFunctionRole": {"handover/*", "identity-hash-key"},
        "ReferralReportFunctionRole": {"handover/*", "identity-hash-key"},
    }
    names = {"Stage": "dev"}
    environments = _environments(resources)
    prefix = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/recoup/dev/"
    for role_id in _roles(resources):
        variables = environments.get(role_id.removesuffix("Role"), {})
        named = {_resolve(v, names) for k, v in variables.items() if k.endswith("_PARAM")}
        named |= {f"{_resolve(v, names)}/*" for k, v in variables.items() if k.endswith("_PREFIX")}
        # When its SSM grants are resolved
        grants = {g for g in _grants(resources, role_id, names) if g[0].startswith("ssm:")}
        # Then it reads one parameter at a time, only this stage's, only the ones it uses
        assert {action for action, _ in grants} <= {"ssm:GetParameter"}, role_id
        assert all(target.startswith(prefix) for _, target in grants), role_id
        parameters = {target.removeprefix(prefix) for _, target in grants}
        assert parameters == expected.get(role_id, set()), role_id
        # and each is one the function is told the name of (it declares the setting)
        assert {f"/recoup/dev/{p}" for p in parameters} <= named, role_id


def _declared(sam_template: dict[str, Any], function_id: str, kinds: Any) -> dict[str, Any]:
    """The function's declared settings of one kind (QueueSetting, SecretSetting...), each
    with the value the template gives its variable."""
    variables = sam_template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    return {
        setting: variables[VARIABLES[setting].name]
        for setting in sorted(FUNCTION_SETTINGS[_function_dir(sam_template, function_id)])  # type: ignore[index]
        if setting in get_args(kinds)
    }


def _queue_triggers(resources: dict[str, Any]) -> dict[str, str]:
    """The queue that feeds each queue consumer, by function logical id."""
    mappings = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    return {
        str(_ref(m["FunctionName"])): (_get_att(m["EventSourceArn"]) or ("",))[0] for m in mappings
    }


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_a_function_may_send_to_exactly_the_queues_it_declares(
    sam_template: dict[str, Any], resources: dict[str, Any], function_id: str
) -> None:
    # Given the queue URLs the function declares (recoup.settings.FUNCTION_SETTINGS), but the
    # queue that feeds it, and the dead-letter queue of its asynchronous invocations, if any
    trigger = _queue_triggers(resources).get(function_id)
    declared = {
        queue
        for value in _declared(sam_template, function_id, QueueSetting).values()
        if (queue := _ref(value)) != trigger
    }
    own_dlq = resources[function_id]["Properties"].get("DeadLetterConfig", {}).get("TargetArn")
    if own_dlq is not None:
        declared.add((_get_att(own_dlq) or ("",))[0])
    # When its role's SendMessage grants are resolved
    sends = {
        target
        for action, target in _grants(resources, f"{function_id}Role")
        if action == "sqs:SendMessage"
    }
    # Then it may send to each queue it is told the URL of, and to no other
    assert sends == {f"<{queue}.Arn>" for queue in declared}, function_id


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_a_function_may_read_and_decrypt_every_parameter_it_declares(
    sam_template: dict[str, Any], resources: dict[str, Any], function_id: str
) -> None:
    # Given the SSM parameters the function declares (a prefix: every parameter under it),
    # and the ones the stack writes as plain Strings (no decryption)
    names = {"Stage": "dev"}
    arn = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter"
    declared = {
        setting: f"{arn}{_resolve(value, names)}" + ("/*" if setting.endswith("_prefix") else "")
        for setting, value in _declared(sam_template, function_id, SecretSetting).items()
    }
    strings = {
        f"{arn}{_resolve(v['Properties']['Name'], names)}"
        for v in resources.values()
        if v["Type"] == "AWS::SSM::Parameter" and v["Properties"]["Type"] == "String"
    }
    role_id = f"{function_id}Role"
    reads = {t for a, t in _grants(resources, role_id, names) if a == "ssm:GetParameter"}
    # When the role's decryptions through SSM are listed, by the parameter they are bound to
    decrypts: set[str] = set()
    for r, statement in _iam_statements(resources):
        condition = statement.get("Condition", {})
        via_ssm = condition.get("StringEquals", {}).get("kms:ViaService") == {
            "Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"
        }
        if r != role_id or not via_ssm or "kms:Decrypt" not in _as_list(statement["Action"]):
            continue
        for test in ("StringEquals", "StringLike"):
            bound = condition.get(test, {}).get("kms:EncryptionContext:PARAMETER_ARN", [])
            decrypts |= {str(v) for v in _resolve(_as_list(bound), names)}
    for setting, parameter in declared.items():
        # Then it may read each parameter it is told the name of
        assert parameter in reads, (function_id, setting)
        # and decrypt it through SSM, unless it is a String the stack writes
        if parameter not in strings:
            assert parameter in decrypts, (function_id, setting)


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_a_function_uses_the_keys_it_declares_and_no_other(
    sam_template: dict[str, Any], resources: dict[str, Any], function_id: str
) -> None:
    # Given what the function declares
    settings = FUNCTION_SETTINGS[_function_dir(sam_template, function_id)]  # type: ignore[index]
    grants = _grants(resources, f"{function_id}Role")
    # When its grants on the signing key, the token key and the case files are picked out
    signs = ("kms:Sign", "<CaseFileSigningKey.Arn>") in grants
    writes_case_files = ("s3:PutObject", "<CaseFilesBucket.Arn>/cases/*") in grants
    token_key = {a for a, target in grants if target == "<TokenKey.Arn>"}
    # Then a function told the signing key signs with it and writes the case files it seals,
    # and no other function signs
    assert signs == ("casefile_signing_key_id" in settings), function_id
    assert writes_case_files == signs, function_id
    # and one told the token key encrypts or decrypts shops' tokens with it; no other touches it
    assert bool(token_key & {"kms:Encrypt", "kms:Decrypt"}) == ("token_key_arn" in settings)
    assert token_key <= {"kms:Encrypt", "kms:Decrypt"}, function_id


def test_key_policies_trust_only_the_account(resources: dict[str, Any]) -> None:
    # Given the KMS keys of the stack
    keys = {k: v for k, v in resources.items() if v["Type"] == "AWS::KMS::Key"}
    assert set(keys) == {"DataKey", "TokenKey", "AlarmKey", "CaseFileSigningKey"}
    account = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    for key_id, key in keys.items():
        # When their key policies are read
        for statement in _statements(key["Properties"]["KeyPolicy"]):
            assert "*" not in _as_list(statement["Action"])
            if statement["Principal"] == account:
                continue
            # Then only the account root is trusted (IAM policies grant use), never "*"; the
            # one service principal is CloudWatch, encrypting alarms for this account's topic
            assert key_id == "AlarmKey", statement
            assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
            assert sorted(_as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
            assert statement["Condition"] == {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            }
        if key["Properties"].get("KeyUsage") == "SIGN_VERIFY":
            # an asymmetric key cannot rotate: files signed with it must stay verifiable
            assert key["Properties"]["KeySpec"] == "ECC_NIST_P256"
            assert key["DeletionPolicy"] == "Retain"
        else:
            assert key["Properties"]["EnableKeyRotation"] is True


def test_only_ses_in_this_account_may_publish_to_the_feedback_topic(
    resources: dict[str, Any],
) -> None:
    # Given the topic policies that cover the email feedback topic
    topic = {"Ref": "EmailFeedbackTopic"}
    policies = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::SNS::TopicPolicy" and topic in v["Properties"]["Topics"]
    ]
    # When its one policy's statements are read
    (policy,) = policies
    assert policy["Topics"] == [topic]
    (statement,) = _statements(policy["PolicyDocument"])
    # Then SES, and no other principal, may Publish to that topic alone
    assert statement["Effect"] == "Allow"
    assert set(statement["Principal"]) == {"Service"}
    assert _as_list(statement["Principal"]["Service"]) == ["ses.amazonaws.com"]
    assert _as_list(statement["Action"]) == ["sns:Publish"]
    assert _as_list(statement["Resource"]) == [topic]
    # and only on behalf of this account (condition keys are case-insensitive)
    condition = {
        operator: {key.lower(): value for key, value in keys.items()}
        for operator, keys in statement["Condition"].items()
    }
    assert condition == {"StringEquals": {"aws:sourceaccount": {"Ref": "AWS::AccountId"}}}


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


def test_due_index_is_sparse_and_projects_only_the_next_step(resources: dict[str, Any]) -> None:
    from recoup.store.models import CaseItem

    # Given the table's global secondary indexes
    table = resources["Table"]["Properties"]
    # When its due index is read
    (index,) = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "due"]
    # Then it is `due`, keyed by due_pk and due_sk, carrying only next_step besides its keys
    assert index["IndexName"] == "due"
    assert index["KeySchema"] == [
        {"AttributeName": "due_pk", "KeyType": "HASH"},
        {"AttributeName": "due_sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["next_step"]}
    assert "ProvisionedThroughput" not in index  # on demand, like the table
    # and it is sparse: its keys are not the table's, so only items that carry them are in it
    table_keys = {k["AttributeName"] for k in table["KeySchema"]}
    assert not table_keys & {k["AttributeName"] for k in index["KeySchema"]}
    definitions = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert definitions == {
        "pk": "S",
        "sk": "S",
        "due_pk": "S",
        "due_sk": "S",
        "shop_part": "S",
        "shop_sort": "S",
    }
    # and the model the scheduler queries declares the same index
    schema = CaseItem.due_index._get_schema()
    assert schema["index_name"] == index["IndexName"]
    assert schema["key_schema"] == index["KeySchema"]
    assert schema["projection"] == index["Projection"]


def test_shop_index_is_keys_only_so_case_updates_do_not_write_it(
    resources: dict[str, Any],
) -> None:
    from recoup.store.models import CaseItem

    # Given the table's indexes
    table = resources["Table"]["Properties"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["due", "shop"]
    (index,) = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "shop"]
    # Then the shop index is keyed by shop_part and shop_sort and projects keys only: an
    # update of a case that keeps those keys costs the index nothing
    assert index["KeySchema"] == [
        {"AttributeName": "shop_part", "KeyType": "HASH"},
        {"AttributeName": "shop_sort", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    schema = CaseItem.shop_index._get_schema()
    assert schema["index_name"] == "shop"
    assert schema["key_schema"] == index["KeySchema"]
    assert schema["projection"] == index["Projection"]


def test_events_queue_is_standard_with_a_standard_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    # Given the events queue and the worker that consumes it
    queue = resources["EventsQueue"]["Properties"]
    worker_timeout = resources["EventWorkerFunction"]["Properties"]["Timeout"]
    # When its redrive target is followed
    dlq_id, attribute = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then both queues are standard (no message group can hold a payment back behind a
    # failing event), encrypted, and the DLQ outlives the messages it receives
    assert not queue.get("FifoQueue") and not dlq.get("FifoQueue")
    assert attribute == "Arn"
    assert not queue["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert not dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # and a message stays hidden long enough for the worker to retry within its visibility
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def test_reminder_queue_is_standard_with_a_standard_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    # Given the reminder queue and the sender that consumes it
    queue = resources["ReminderQueue"]["Properties"]
    sender_timeout = resources["SenderFunction"]["Properties"]["Timeout"]
    # When its redrive target is followed
    dlq_id, attribute = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then both are standard queues (jobs are idempotent: the sender claims each step),
    # encrypted, and the DLQ outlives the jobs it receives
    assert (dlq_id, attribute) == ("ReminderDeadLetterQueue", "Arn")
    assert not queue.get("FifoQueue") and not dlq.get("FifoQueue")
    assert not queue["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert not dlq["QueueName"]["Fn::Sub"].endswith(".fifo")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # and a job stays hidden long enough for the sender to retry within its visibility
    assert queue["VisibilityTimeout"] >= 6 * sender_timeout


def test_shopify_tasks_queue_is_standard_with_a_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    # Given the Shopify tasks queue and the worker that consumes it
    queue = resources["ShopifyTasksQueue"]["Properties"]
    worker_timeout = resources["ShopifyTasksFunction"]["Properties"]["Timeout"]
    # When its redrive target is followed
    dlq_id, attribute = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then both are standard, encrypted queues (tagging is idempotent), five receives before
    # the DLQ, which outlives the jobs, and a job stays hidden while the worker may retry it
    assert (dlq_id, attribute) == ("ShopifyTasksDeadLetterQueue", "Arn")
    assert not queue.get("FifoQueue") and not dlq.get("FifoQueue")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def test_failed_feedback_lands_in_an_encrypted_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    # Given the feedback function (SNS invokes it asynchronously)
    function = resources["FeedbackFunction"]["Properties"]
    # When its dead-letter target is followed
    dlq_id, attribute = _get_att(function["DeadLetterConfig"]["TargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then it is a standard (Lambda cannot use FIFO), encrypted queue that keeps 14 days
    assert (dlq_id, attribute) == ("FeedbackDeadLetterQueue", "Arn")
    assert not dlq.get("FifoQueue")
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    # and no other function has a dead-letter queue of its own
    assert [
        k for k, v in _lambda_functions(resources).items() if "DeadLetterConfig" in v["Properties"]
    ] == ["FeedbackFunction"]


def test_privacy_queue_is_standard_with_a_standard_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    # Given the privacy queue and the worker that consumes it
    queue = resources["PrivacyQueue"]["Properties"]
    worker_timeout = resources["PrivacyFunction"]["Properties"]["Timeout"]
    # When its redrive target is followed
    dlq_id, attribute = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then both are standard, encrypted queues (the worker is idempotent), five receives
    # before the DLQ, which outlives the jobs it receives
    assert (dlq_id, attribute) == ("PrivacyDeadLetterQueue", "Arn")
    assert not queue.get("FifoQueue") and not dlq.get("FifoQueue")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    # and a job stays hidden long enough for the worker to retry within its visibility
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout


def test_a_hand_over_claim_outlasts_the_worker_and_its_job_stays_hidden_meanwhile(
    resources: dict[str, Any],
) -> None:
    from recoup.services.handover import CLAIM_LEASE, POST_TIMEOUT_SECONDS

    # Given the hand-over worker, its queue and its mapping
    timeout = resources["HandOverFunction"]["Properties"]["Timeout"]
    queue = resources["HandOverQueue"]["Properties"]
    (mapping,) = [
        v
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::EventSourceMapping"
        and _ref(v["Properties"]["FunctionName"]) == "HandOverFunction"
    ]
    # Then a full batch of attempts at the POST timeout fits in the worker's timeout
    assert mapping["Properties"]["BatchSize"] * POST_TIMEOUT_SECONDS < timeout
    # and a claimed attempt is not due again before a worker making it could have finished
    assert CLAIM_LEASE.total_seconds() > timeout
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_plan_charges_run_a_few_at_a_time_and_only_charge_and_write_the_case(
    resources: dict[str, Any],
) -> None:
    # Given the plan charges worker, its queue and its mapping
    function = resources["PlanChargesFunction"]["Properties"]
    queue = resources["PlanChargesQueue"]["Properties"]
    (mapping,) = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::EventSourceMapping"
        and _ref(v["Properties"]["FunctionName"]) == "PlanChargesFunction"
    ]
    dlq_id, _ = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    dlq = resources[dlq_id]["Properties"]
    # Then a few charges run at a time (Stripe's rate limits per account), and the mapping
    # never invokes more than that, so a batch is never throttled back to the queue
    reserved = function["ReservedConcurrentExecutions"]
    assert 0 < reserved <= 10
    assert 2 <= mapping["ScalingConfig"]["MaximumConcurrency"] <= reserved
    # and both queues are standard and encrypted, five receives before the DLQ, which
    # outlives the jobs, and a job stays hidden while the worker may retry it
    assert dlq_id == "PlanChargesDeadLetterQueue"
    assert not queue.get("FifoQueue") and not dlq.get("FifoQueue")
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    # and it neither emails nor texts (the customer's notice of a failed charge is the
    # sender's), signs nothing and reaches no bucket: the queue, the table, its keys, SSM
    grants = _grants(resources, "PlanChargesFunctionRole")
    assert {action.partition(":")[0] for action, _ in grants} == {"sqs", "dynamodb", "kms", "ssm"}
    assert {a for a, _ in grants if a.startswith("kms:")} == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    assert ("kms:Sign", "<CaseFileSigningKey.Arn>") not in grants


def test_case_files_bucket_is_private_encrypted_and_expires_exports(
    resources: dict[str, Any],
) -> None:
    # Given the case-files bucket and the policies on it
    bucket = resources["CaseFilesBucket"]["Properties"]
    policies = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::S3::BucketPolicy"
        and v["Properties"]["Bucket"] == {"Ref": "CaseFilesBucket"}
    ]
    # When its settings are read
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # Then objects are encrypted with the stack's data key, and no public access is possible
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # and it is versioned under Object Lock in governance mode for the retention parameter,
    # so no version can be replaced or deleted without the right to bypass it
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {
            "DefaultRetention": {"Mode": "GOVERNANCE", "Days": {"Ref": "CaseFileRetentionDays"}}
        },
    }
    # and exports expire after 30 days, referral case files after the retention period, old
    # versions a day after they are superseded (as soon as their lock allows)
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert [(r["Prefix"], r["ExpirationInDays"]) for r in rules if "ExpirationInDays" in r] == [
        ("exports/", 30),
        ("cases/", {"Ref": "CaseFileRetentionDays"}),
    ]
    assert all(
        r["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
        for r in rules
        if "ExpirationInDays" in r
    )
    # and its one policy refuses every request that is not over TLS
    (policy,) = policies
    (statement,) = _statements(policy["PolicyDocument"])
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "s3:*",
    )
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert _resolve(statement["Resource"]) == ["<CaseFilesBucket.Arn>", "<CaseFilesBucket.Arn>/*"]


def test_privacy_worker_reaches_only_the_case_files_prefixes_it_erases(
    resources: dict[str, Any],
) -> None:
    # Given the privacy worker's S3 grants
    grants = {g for g in _grants(resources, "PrivacyFunctionRole") if g[0].startswith("s3:")}
    # When they are resolved
    # Then it writes and reads exports, deletes exports and case files, and lists only under
    # those prefixes
    assert grants == {
        ("s3:PutObject", "<CaseFilesBucket.Arn>/exports/*"),
        ("s3:GetObject", "<CaseFilesBucket.Arn>/exports/*"),
        ("s3:PutObjectRetention", "<CaseFilesBucket.Arn>/exports/*"),
        *(
            (action, f"<CaseFilesBucket.Arn>/{prefix}/*")
            for action in (
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:BypassGovernanceRetention",
            )
            for prefix in ("exports", "cases")
        ),
        ("s3:ListBucket", "<CaseFilesBucket.Arn>"),
        ("s3:ListBucketVersions", "<CaseFilesBucket.Arn>"),
        # a job's last failure is moved aside; erasure deletes queued bodies
        ("s3:PutObject", "<QueueBodiesBucket.Arn>/quarantine/*"),
        ("s3:GetObject", "<QueueBodiesBucket.Arn>/quarantine/*"),
        ("s3:DeleteObject", "<QueueBodiesBucket.Arn>/quarantine/*"),
        ("s3:DeleteObject", "<QueueBodiesBucket.Arn>/inbox/*"),
        ("s3:ListBucket", "<QueueBodiesBucket.Arn>"),
    }
    listings = [
        (_resolve(s["Resource"]), s["Condition"])
        for r, s in _iam_statements(resources)
        if r == "PrivacyFunctionRole" and "s3:ListBucket" in _as_list(s["Action"])
    ]
    assert listings == [
        ("<CaseFilesBucket.Arn>", {"StringLike": {"s3:prefix": ["exports/*", "cases/*"]}}),
        ("<QueueBodiesBucket.Arn>", {"StringLike": {"s3:prefix": ["inbox/*", "quarantine/*"]}}),
    ]


def test_queue_bodies_bucket_is_private_encrypted_unversioned_and_expires(
    resources: dict[str, Any],
) -> None:
    # Given the bucket of oversized events and quarantined bodies, and the queues they serve
    bucket = resources["QueueBodiesBucket"]["Properties"]
    events = resources["EventsQueue"]["Properties"]
    dlq_retention = resources["EventsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    (policy,) = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::S3::BucketPolicy"
        and v["Properties"]["Bucket"] == {"Ref": "QueueBodiesBucket"}
    ]
    # When its settings are read
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    expiry = {
        r["Prefix"]: r["ExpirationInDays"] * 86400
        for r in bucket["LifecycleConfiguration"]["Rules"]
        if "ExpirationInDays" in r
    }
    # Then bodies are encrypted with the data key, never public, and not versioned (nor
    # locked), so erasure deletes them at once
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert "VersioningConfiguration" not in bucket and "ObjectLockEnabled" not in bucket
    # and a body outlives every message that may still point to it, then expires
    assert set(expiry) == {"inbox/", "quarantine/"}
    assert expiry["inbox/"] > events["MessageRetentionPeriod"] + dlq_retention
    assert expiry["quarantine/"] > dlq_retention
    # and the bucket refuses every request that is not over TLS
    (statement,) = _statements(policy["PolicyDocument"])
    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    ("queue_id", "function_id"),
    [("EventsQueue", "EventWorkerFunction"), ("PrivacyQueue", "PrivacyFunction")],
)
def test_consumers_move_a_failed_record_aside_one_receive_before_the_backstop(
    resources: dict[str, Any], queue_id: str, function_id: str
) -> None:
    from recoup.jobs import QUARANTINE_AT_RECEIVE

    # Given a queue whose bodies may hold personal data, and its consumer's grants
    queue = resources[queue_id]["Properties"]
    dlq_id, _ = _get_att(queue["RedrivePolicy"]["deadLetterTargetArn"]) or ("", "")
    grants = _grants(resources, f"{function_id}Role")
    # Then the consumer quarantines at the receive before the queue's own redrive (kept as
    # the backstop for crashes), and may store the body and send the reference
    assert queue["RedrivePolicy"]["maxReceiveCount"] == QUARANTINE_AT_RECEIVE + 1
    assert ("sqs:SendMessage", f"<{dlq_id}.Arn>") in grants
    assert ("s3:PutObject", "<QueueBodiesBucket.Arn>/quarantine/*") in grants
    assert ("s3:GetObject", "<QueueBodiesBucket.Arn>/quarantine/*") in grants
    assert ("s3:DeleteObject", "<QueueBodiesBucket.Arn>/quarantine/*") in grants


def test_worker_reads_queued_bodies_and_writes_only_quarantined_ones(
    resources: dict[str, Any],
) -> None:
    grants = {g for g in _grants(resources, "EventWorkerFunctionRole") if g[0].startswith("s3:")}
    assert grants == {
        ("s3:GetObject", "<QueueBodiesBucket.Arn>/inbox/*"),
        ("s3:GetObject", "<QueueBodiesBucket.Arn>/quarantine/*"),
        ("s3:PutObject", "<QueueBodiesBucket.Arn>/quarantine/*"),
        ("s3:DeleteObject", "<QueueBodiesBucket.Arn>/quarantine/*"),
    }


def test_only_the_privacy_worker_may_erase_locked_versions(resources: dict[str, Any]) -> None:
    # Given every role's S3 grants
    for role_id in _roles(resources):
        actions = {a for a, _ in _grants(resources, role_id) if a.startswith("s3:")}
        # Then none but the privacy worker may delete a version or bypass governance retention
        if role_id != "PrivacyFunctionRole":
            assert not actions & {
                "s3:DeleteObjectVersion",
                "s3:BypassGovernanceRetention",
                "s3:PutObjectRetention",
                "s3:PutObjectLegalHold",
                "s3:PutBucketObjectLockConfiguration",
                "s3:PutBucketVersioning",
            }, role_id


@pytest.mark.parametrize(("function_id", "queue_id"), sorted(CONSUMERS.items()))
def test_queue_consumer_is_fed_in_batches_with_partial_failures(
    sam_template: dict[str, Any], resources: dict[str, Any], function_id: str, queue_id: str
) -> None:
    # Given the event source mappings of the transformed template
    mappings = [v for v in resources.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert {_ref(m["Properties"]["FunctionName"]) for m in mappings} == set(CONSUMERS)
    # When the one feeding the consumer is found
    (mapping,) = [m for m in mappings if _ref(m["Properties"]["FunctionName"]) == function_id]
    props = mapping["Properties"]
    # Then it reads the consumer's queue ten at a time and reports failed items one by one
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # and it is an explicit mapping, not a SAM SQS event (which attaches a policy on every queue)
    events = sam_template["Resources"][function_id]["Properties"].get("Events", {})
    assert all(event["Type"] != "SQS" for event in events.values())


def test_every_dead_letter_queue_has_an_alarm(resources: dict[str, Any]) -> None:
    # Given every queue, and the dead-letter targets of queues and of functions
    queues = {k for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    redrives = {
        k: (_get_att(v["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) or ("",))[0]
        for k, v in resources.items()
        if v["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in v["Properties"]
    }
    function_dlqs = {
        k: (_get_att(v["Properties"]["DeadLetterConfig"]["TargetArn"]) or ("",))[0]
        for k, v in _lambda_functions(resources).items()
        if "DeadLetterConfig" in v["Properties"]
    }
    assert redrives == {
        "EventsQueue": "EventsDeadLetterQueue",
        "ReminderQueue": "ReminderDeadLetterQueue",
        "ShopifyTasksQueue": "ShopifyTasksDeadLetterQueue",
        "PrivacyQueue": "PrivacyDeadLetterQueue",
        "EscalationQueue": "EscalationDeadLetterQueue",
        "PlanChargesQueue": "PlanChargesDeadLetterQueue",
        "HandOverQueue": "HandOverDeadLetterQueue",
    }
    assert function_dlqs == {"FeedbackFunction": "FeedbackDeadLetterQueue"}
    schedule_dlqs = {
        k: (_get_att(v["Properties"]["Target"]["DeadLetterConfig"]["Arn"]) or ("",))[0]
        for k, v in resources.items()
        if v["Type"] == "AWS::Scheduler::Schedule"
    }
    assert schedule_dlqs == {"SchedulerFunctionEveryFiveMinutes": "SchedulerDeadLetterQueue"}
    dlqs = set(redrives.values()) | set(function_dlqs.values()) | set(schedule_dlqs.values())
    # and every queue is either a dead-letter queue or redrives to one
    assert queues == dlqs | set(redrives)
    alarms = _alarms(resources)
    for dlq in dlqs:
        # When the alarms watching its visible messages are found
        watching = [
            a
            for a in alarms
            if a.get("Namespace") == "AWS/SQS"
            and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
            in a["Dimensions"]
        ]
        # Then one fires as soon as a single message lands there
        assert len(watching) == 1, dlq
        (alarm,) = watching
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["TreatMissingData"] == "notBreaching"


def test_functions_have_error_alarms_that_notify_the_stacks_topic(
    resources: dict[str, Any],
) -> None:
    # Given every alarm
    alarms = _alarms(resources)
    # When the Lambda error alarms are mapped to their functions
    error_alarms = [a for a in alarms if a.get("Namespace") == "AWS/Lambda"]
    watched = [
        _ref(d["Value"])
        for a in error_alarms
        if a["MetricName"] == "Errors"
        for d in a["Dimensions"]
        if d["Name"] == "FunctionName"
    ]
    # Then every function is watched, once, and fires on its first error
    assert sorted(watched) == sorted(FUNCTIONS)
    for alarm in error_alarms:
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    # and every alarm notifies the stack's own topic, and exists in every stage
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm["AlarmName"]
    assert not [
        k
        for k, v in resources.items()
        if v["Type"] == "AWS::CloudWatch::Alarm" and "Condition" in v
    ]


def test_the_alarm_topic_is_encrypted_and_emails_the_given_address(
    resources: dict[str, Any],
) -> None:
    # Given the alarm topic, its policy and its subscriptions
    topic = resources["AlarmTopic"]["Properties"]
    # Then it is encrypted with the stack's alarm key (CloudWatch cannot use the AWS managed
    # SNS key), which the key policy test lets CloudWatch use
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmKey"}
    # and only CloudWatch, for this account, may publish to it
    (statement,) = _statements(resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"])
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    # and the address in AlarmEmail, when one is given, is subscribed by email
    subscriptions = [
        (k, v)
        for k, v in resources.items()
        if v["Type"] == "AWS::SNS::Subscription"
        and v["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    ]
    ((_, subscription),) = subscriptions
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_every_queue_that_feeds_a_function_has_an_age_alarm(resources: dict[str, Any]) -> None:
    # Given the queues that feed a function, and their redrive settings
    fed = {
        (_get_att(v["Properties"]["EventSourceArn"]) or ("",))[0]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    assert fed == set(CONSUMERS.values())
    alarms = _alarms(resources)
    for queue in fed:
        props = resources[queue]["Properties"]
        # When the alarms on the age of its oldest message are found
        watching = [
            a
            for a in alarms
            if a.get("Namespace") == "AWS/SQS"
            and a["MetricName"] == "ApproximateAgeOfOldestMessage"
            and a["Dimensions"]
            == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
        ]
        # Then there is one, and a message on its way to the DLQ through its retries (alarmed
        # there) does not fire it, while one that waits past that does
        assert len(watching) == 1, queue
        (alarm,) = watching
        retries = props["RedrivePolicy"]["maxReceiveCount"] * props["VisibilityTimeout"]
        assert alarm["Threshold"] > retries, queue
        assert alarm["Threshold"] < props.get("MessageRetentionPeriod", 345600), queue
        assert (alarm["Statistic"], alarm["ComparisonOperator"]) == (
            "Maximum",
            "GreaterThanThreshold",
        )


def _http_edges() -> tuple[set[str], int]:
    """The edges the HTTP functions' code names by a literal (recoup.http.Edge: a fault it
    answers with a 500 counts <edge>Failed), and how many webhook functions webhook_app
    makes (their edges, <Source>Webhook, are in ALARMED_METRICS)."""
    edges: set[str] = set()
    webhooks = 0
    sources = [
        *(REPO_ROOT / "layers" / "recoup" / "recoup").rglob("*.py"),
        *(REPO_ROOT / "functions").glob("*/app.py"),
    ]
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if not isinstance(node, ast.Call):
                continue
            callee = getattr(node.func, "attr", getattr(node.func, "id", None))
            if callee == "Edge" and node.args and isinstance(node.args[0], ast.Constant):
                edges.add(str(node.args[0].value))
            elif callee == "webhook_app":
                webhooks += 1
    return edges, webhooks


def test_every_http_function_counts_its_faults_under_an_edge_of_its_own(
    resources: dict[str, Any],
) -> None:
    # Given the functions an HTTP API route invokes
    http_functions = {
        function_id
        for function_id, triggers in _triggers(resources).items()
        if any(not t.startswith(("sqs ", "sns ", "schedule ")) for t in triggers)
    }
    # When the edges the code names are found
    edges, webhooks = _http_edges()
    # Then there is one per HTTP function, so each one's faults have a metric to alarm on
    assert len(edges) + webhooks == len(http_functions), (edges, webhooks, http_functions)


def test_application_metric_alarms_match_what_powertools_emits(
    resources: dict[str, Any],
) -> None:
    from recoup.observability import ALARMED_METRICS, metrics

    # Given the dimensions the project's Metrics object emits (its EMF document)
    metrics.add_metric(name=ALARMED_METRICS[0], unit="Count", value=1)
    document = metrics.serialize_metric_set()
    metrics.clear_metrics()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    emitted = [{"Name": name, "Value": document[name]} for name in directive["Dimensions"][0]]
    alarms = {
        a["MetricName"]: a
        for a in _alarms(resources)
        if a.get("Namespace") == directive["Namespace"]
    }
    # (the HTTP functions' faults too: answered with a 500, their Errors metric stays quiet)
    failures = [f"{edge}Failed" for edge in sorted(_http_edges()[0])]
    for name in dict.fromkeys((*ALARMED_METRICS, *failures)):
        # When the alarm on each alarmed metric is read
        assert name in alarms, f"no alarm on {name}"
        alarm = alarms[name]
        # Then it watches exactly that namespace and those dimensions, and fires on one in
        # five minutes
        assert alarm["Dimensions"] == emitted, name
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        ), name
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 300, name
        assert alarm["TreatMissingData"] == "notBreaching"


def test_every_function_logs_to_a_group_with_the_retention_parameter(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the functions and the log groups of the stack
    groups = {
        k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Logs::LogGroup"
    }
    names = {"Stage": "dev"}
    assert sam_template["Parameters"]["LogRetentionDays"]["Default"] == 30
    for logical_id, function in _lambda_functions(resources).items():
        props = function["Properties"]
        # When the function's name and its logging configuration are resolved
        group_id = _ref(props["LoggingConfig"]["LogGroup"])
        group = groups[str(group_id)]
        # Then it logs to a group of its own, named as Lambda names it, kept LogRetentionDays
        assert _resolve(group["LogGroupName"], names) == (
            f"/aws/lambda/{_resolve(props['FunctionName'], names)}"
        ), logical_id
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
        assert resources[str(group_id)]["DeletionPolicy"] == "Delete"
    # and no two functions share one
    used = [
        _ref(f["Properties"]["LoggingConfig"]["LogGroup"])
        for f in _lambda_functions(resources).values()
    ]
    assert len(set(used)) == len(FUNCTIONS)
    # and every group has a retention
    assert all("RetentionInDays" in g for g in groups.values())


# ---------------------------------------------------------------------------------- wiring


def _triggers(resources: dict[str, Any]) -> dict[str, set[str]]:
    """What invokes each function: API routes, schedules, SNS topics and SQS queues."""
    found: dict[str, set[str]] = {k: set() for k in _lambda_functions(resources)}
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGatewayV2::Api":
            for path, operations in props["Body"]["paths"].items():
                for method, operation in operations.items():
                    uri = _resolve(operation["x-amazon-apigateway-integration"]["uri"])
                    target = re.search(r"/functions/<(\w+)\.Arn>/invocations$", uri)
                    assert target, uri
                    verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                    found[target[1]].add(f"{verb} {path}")
        elif resource["Type"] == "AWS::Events::Rule":
            for target in props["Targets"]:
                function_id, _ = _get_att(target["Arn"]) or ("", "")
                found[function_id].add(f"schedule {props['ScheduleExpression']}")
        elif resource["Type"] == "AWS::Scheduler::Schedule":
            function_id, _ = _get_att(props["Target"]["Arn"]) or ("", "")
            found[function_id].add(f"schedule {props['ScheduleExpression']}")
        elif resource["Type"] == "AWS::SNS::Subscription":
            if props["TopicArn"] == {"Ref": "AlarmTopic"}:
                continue  # people, not functions
            assert props["Protocol"] == "lambda"
            function_id, _ = _get_att(props["Endpoint"]) or ("", "")
            found[function_id].add(f"sns {_ref(props['TopicArn'])}")
        elif resource["Type"] == "AWS::Lambda::EventSourceMapping":
            queue_id, _ = _get_att(props["EventSourceArn"]) or ("", "")
            found[str(_ref(props["FunctionName"]))].add(f"sqs {queue_id}")
    return found


def test_each_function_is_invoked_by_its_own_trigger_only(resources: dict[str, Any]) -> None:
    # Given the transformed template's routes, rules, subscriptions and mappings
    # When they are mapped to the functions they invoke
    triggers = _triggers(resources)
    # Then every function has exactly its agreed triggers
    assert triggers == EXPECTED_TRIGGERS
    # and every invoke permission names the one service and source it is for
    permissions = [
        v["Properties"] for v in resources.values() if v["Type"] == "AWS::Lambda::Permission"
    ]
    assert permissions
    for permission in permissions:
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["Principal"].endswith(".amazonaws.com")
        assert "SourceArn" in permission


def test_ses_reports_bounces_and_complaints_to_the_feedback_topic(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the SES event destinations
    destinations = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::SES::ConfigurationSetEventDestination"
    ]
    # When the one destination is read
    (destination,) = destinations
    event = destination["EventDestination"]
    # Then it is the configuration set the sender uses, and it sends bounces and complaints,
    # enabled, to the email feedback topic and nowhere else
    assert destination["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    for given in _values_of(resources, "RECOUP_SES_CONFIGURATION_SET"):
        assert given == {"Ref": "EmailConfigurationSet"}
    assert event["Enabled"] is True
    assert sorted(event["MatchingEventTypes"]) == [
        "bounce",
        "complaint",
        "delivery",
        "deliveryDelay",
        "reject",
        "renderingFailure",
    ]
    assert event["SnsDestination"] == {"TopicARN": {"Ref": "EmailFeedbackTopic"}}
    assert not {
        "CloudWatchDestination",
        "KinesisFirehoseDestination",
        "EventBridgeDestination",
    } & set(event)
    # and the feedback function is subscribed to that topic
    assert "sns EmailFeedbackTopic" in _triggers(resources)["FeedbackFunction"]


def test_sms_delivery_status_reaches_the_feedback_function(resources: dict[str, Any]) -> None:
    # Given the log subscriptions, the log groups and the role SNS logs SMS status with
    filters = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::SubscriptionFilter"
    ]
    groups = {
        logical_id: r for logical_id, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"
    }
    # Then the feedback function, and only it, takes everything SNS logs to both groups
    assert len(filters) == 2
    for subscription in filters:
        assert _get_att(subscription["DestinationArn"])[0] == "FeedbackFunction"
        assert subscription["FilterPattern"] == ""
    # (the groups this stack creates, or the same names made by another stage)
    choices = sorted(
        (condition, _resolve(created), _resolve(existing))
        for condition, created, existing in (f["LogGroupName"]["Fn::If"] for f in filters)
    )
    status = "sns/<AWS::Region>/<AWS::AccountId>/DirectPublishToPhoneNumber"
    assert choices == [
        ("CreatesSmsStatusLogs", "<SmsDeliveredLogGroup>", status),
        ("CreatesSmsStatusLogs", "<SmsFailedLogGroup>", f"{status}/Failure"),
    ]
    # and the groups it creates keep the records (which name the phone number) only as long
    # as the functions' own logs
    for logical_id in ("SmsDeliveredLogGroup", "SmsFailedLogGroup"):
        assert groups[logical_id]["Condition"] == "CreatesSmsStatusLogs"
        assert groups[logical_id]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # and SNS, of this account only, may write those two groups and nothing else
    role = resources[SMS_STATUS_ROLE]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sns.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    ((statement,),) = [_statements(p["PolicyDocument"]) for p in role["Policies"]]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert [_resolve(r) for r in statement["Resource"]] == [
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:sns/<AWS::Region>/"
        "<AWS::AccountId>/DirectPublishToPhoneNumber:*",
        "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:sns/<AWS::Region>/"
        "<AWS::AccountId>/DirectPublishToPhoneNumber/Failure:*",
    ]


def test_each_function_is_given_exactly_the_settings_it_declares(
    sam_template: dict[str, Any], resources: dict[str, Any]
) -> None:
    # Given the Globals' environment, and each function's own before and after the transform
    globals_ = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    functions = _lambda_functions(resources)
    assert set(functions) == set(FUNCTIONS)
    # Then the Globals give every function only what every function reads
    assert set(globals_) == GLOBAL_ENV
    # and every function of the template has an entry in recoup.settings, and nothing else does
    dirs = {logical_id: _function_dir(sam_template, logical_id) for logical_id in FUNCTIONS}
    assert sorted(dirs.values()) == sorted(FUNCTION_SETTINGS)
    for logical_id, function_dir in dirs.items():
        # When its own variables are listed
        own = sam_template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        merged = functions[logical_id]["Properties"]["Environment"]["Variables"]
        # Then they are exactly the variables of the settings it declares, no more, no less
        assert set(own) == environment_of(function_dir), logical_id  # type: ignore[arg-type]
        # and it overrides none of the Globals, which it gets with their values
        assert not set(own) & set(globals_), logical_id
        assert merged == {**globals_, **own}, logical_id


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_every_function_configures_its_own_settings_at_import(
    sam_template: dict[str, Any], function_id: str
) -> None:
    # Given a function's handler module
    function_dir = _function_dir(sam_template, function_id)
    source = REPO_ROOT / "functions" / function_dir / "app.py"
    tree = ast.parse(source.read_text(), filename=str(source))
    # When its module-level calls of configure are found
    calls = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Expr | ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute | ast.Name)
        and getattr(node.value.func, "attr", getattr(node.value.func, "id", None)) == "configure"
    ]
    # Then there is one, at import, with the function's own name
    assert [ast.literal_eval(call.args[0]) for call in calls] == [function_dir], source


def test_environment_names_this_stacks_resources(resources: dict[str, Any]) -> None:
    # Given every variable any function is given
    expected = {
        "RECOUP_STAGE": "dev",
        "RECOUP_TABLE_NAME": "<Table>",
        "RECOUP_EVENTS_QUEUE_URL": "<EventsQueue>",
        "RECOUP_SECRETS_SOURCE": "ssm",
        "RECOUP_SHOPIFY_API_SECRET_PARAM": "/recoup/dev/shopify-api-secret",
        "RECOUP_STRIPE_WEBHOOK_SECRET_PARAM": "/recoup/dev/stripe-webhook-secret",
        "RECOUP_REMINDER_QUEUE_URL": "<ReminderQueue>",
        "RECOUP_SENDER_ADDRESS": "<SenderAddress>",
        "RECOUP_SES_CONFIGURATION_SET": "<EmailConfigurationSet>",
        "RECOUP_PUBLIC_URL_PARAM": "/recoup/dev/public-base-url",
        "RECOUP_SMS_ORIGINATION_IDENTITY": "<SmsOriginationIdentity>",
        "RECOUP_LINK_SECRET_PARAM": "/recoup/dev/link-signing-secret",
        "RECOUP_STRIPE_API_KEY_PARAM": "/recoup/dev/stripe-api-key",
        "RECOUP_KMS_KEY_ARN": "<DataKey.Arn>",
        "RECOUP_TOKEN_KEY_ARN": "<TokenKey.Arn>",
        "RECOUP_IDENTITY_HASH_KEY_PARAM": "/recoup/dev/identity-hash-key",
        "RECOUP_SHOPIFY_TASKS_QUEUE_URL": "<ShopifyTasksQueue>",
        "RECOUP_SHOPIFY_API_KEY": "<ShopifyApiKey>",
        "RECOUP_STRIPE_CONNECT_CLIENT_ID": "<StripeConnectClientId>",
        "RECOUP_PRIVACY_QUEUE_URL": "<PrivacyQueue>",
        "RECOUP_CASE_FILES_BUCKET": "<CaseFilesBucket>",
        "RECOUP_CASEFILE_SIGNING_KEY_ID": "<CaseFileSigningKey.Arn>",
        "RECOUP_ESCALATION_QUEUE_URL": "<EscalationQueue>",
        "RECOUP_HANDOVER_QUEUE_URL": "<HandOverQueue>",
        "RECOUP_PLAN_CHARGES_QUEUE_URL": "<PlanChargesQueue>",
        "RECOUP_HANDOVER_SECRET_PREFIX": "/recoup/dev/handover",
        "RECOUP_EVENTS_DLQ_URL": "<EventsDeadLetterQueue>",
        "RECOUP_PRIVACY_DLQ_URL": "<PrivacyDeadLetterQueue>",
        "RECOUP_QUEUE_BODIES_BUCKET": "<QueueBodiesBucket>",
        "POWERTOOLS_SERVICE_NAME": "recoup",
        "POWERTOOLS_METRICS_NAMESPACE": "Recoup",
        "POWERTOOLS_LOG_LEVEL": "<LogLevel>",
    }
    assert set(expected) == GLOBAL_ENV | {v.name for v in VARIABLES.values()}
    for logical_id, variables in _environments(resources).items():
        # When a function's values are resolved for stage dev
        resolved = {k: _resolve(v, {"Stage": "dev"}) for k, v in variables.items()}
        # Then each points at this stack's resources and parameters, and this stage's secrets
        assert resolved == {k: expected[k] for k in variables}, logical_id


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
        overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
        assert overrides["Stage"] == stage
        # and it gives every parameter of the template a value (an empty one as "")
        assert set(overrides) == set(sam_template["Parameters"]), stage
        for name, value in overrides.items():
            spec = sam_template["Parameters"][name]
            plain = "" if value == '""' else value
            if "AllowedValues" in spec:
                assert plain in [str(v) for v in spec["AllowedValues"]], (stage, name)
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], plain), (stage, name)
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        assert deploy["confirm_changeset"] is (stage == "prod")
        assert config[stage]["build"]["parameters"] == {"cached": True, "parallel": True}
        assert config[stage]["validate"]["parameters"] == {"lint": True}
    # and dev's sync gives the same values as its deploy
    sync, deploy = (config["dev"][k]["parameters"] for k in ("sync", "deploy"))
    assert sync["parameter_overrides"] == deploy["parameter_overrides"]
    # and nothing ties the file to one AWS account
    assert not re.search(r"\b\d{12}\b", SAMCONFIG.read_text())


# ---------------------------------------------------------------------------------- dashboard


def _dashboard(resources: dict[str, Any]) -> dict[str, Any]:
    body = resources["Dashboard"]["Properties"]["DashboardBody"]
    names = {"Stage": "dev", "SmsMonthlySpendAlarmUSD": 0.8}
    parsed: dict[str, Any] = json.loads(_resolve(body, names))
    return parsed


def _dashboard_metrics(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """Metric name -> the dimension values the dashboard's plain metric rows name."""
    found: dict[str, set[str]] = {}
    for widget in dashboard["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], str):
                names = [part for part in row if isinstance(part, str)]
                found.setdefault(names[1], set()).update(names[3::2])
    return found


def test_the_dashboard_shows_every_queue_dead_letter_queue_and_function(
    resources: dict[str, Any],
) -> None:
    # Given the stage's dashboard, and the stack's queues and functions
    dashboard = _dashboard(resources)
    queues = {k for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    fed = {k for k in queues if "RedrivePolicy" in resources[k]["Properties"]}
    dead_letter = queues - fed
    assert len(fed) == 7 and len(dead_letter) == 9
    # When its metric rows are read
    shown = _dashboard_metrics(dashboard)
    # Then every queue's depth and age is on it, and every dead-letter queue's depth
    assert {f"<{q}.QueueName>" for q in queues} == shown["ApproximateNumberOfMessagesVisible"]
    assert {f"<{q}.QueueName>" for q in fed} == shown["ApproximateAgeOfOldestMessage"]
    (dlq_widget,) = [
        w for w in dashboard["widgets"] if w["properties"].get("title", "").startswith("Dead")
    ]
    assert {row[3] for row in dlq_widget["properties"]["metrics"]} == {
        f"<{q}.QueueName>" for q in dead_letter
    }
    # and every function's errors and throttles
    for metric in ("Errors", "Throttles"):
        assert shown[metric] == {f"<{f}>" for f in FUNCTIONS}, metric
    # and the table's throttling, the account's email reputation and SMS spend
    assert shown["ReadThrottleEvents"] == shown["WriteThrottleEvents"] == {"<Table>"}
    assert {"Reputation.BounceRate", "Reputation.ComplaintRate", "SMSMonthToDateSpentUSD"} <= set(
        shown
    )
    # and it is the stage's own, in the stack's Region
    name = resources["Dashboard"]["Properties"]["DashboardName"]
    assert _resolve(name, {"Stage": "dev"}) == "recoup-dev"
    assert {w["properties"].get("region", "<AWS::Region>") for w in dashboard["widgets"]} == {
        "<AWS::Region>"
    }


def test_the_dashboard_searches_every_business_metric_by_its_dimensions(
    resources: dict[str, Any],
) -> None:
    # Given the SEARCH expressions of the dashboard
    expressions = [
        row[0]["expression"]
        for widget in _dashboard(resources)["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], dict)
    ]
    searched: dict[str, set[frozenset[str]]] = {}
    for expression in expressions:
        for schema, name in re.findall(r"\{Recoup,([^}]*)\} MetricName=\"(\w+)\"", expression):
            searched.setdefault(name, set()).add(frozenset(schema.split(",")))
    # Then each metric of the catalogue is searched, with exactly the dimensions it is emitted
    # with (a SEARCH schema matches one dimension set), service included
    assert set(searched) == {metric.name for metric in BUSINESS_METRICS}
    for metric in BUSINESS_METRICS:
        assert searched[metric.name] == {frozenset({*metric.dimensions, "service"})}, metric.name


# ---------------------------------------------------------------------------------- alarms


def test_each_function_has_a_throttle_alarm(resources: dict[str, Any]) -> None:
    # Given the alarms on Lambda's Throttles metric
    throttles = [
        a
        for a in _alarms(resources)
        if a.get("Namespace") == "AWS/Lambda" and a["MetricName"] == "Throttles"
    ]
    # Then every function has one, which fires on the first throttled invocation
    watched = sorted(_ref(d["Value"]) or "" for a in throttles for d in a["Dimensions"])
    assert watched == sorted(FUNCTIONS)
    for alarm in throttles:
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "GreaterThanThreshold",
            0,
        )
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


@pytest.mark.parametrize(
    ("logical_id", "namespace", "metric", "threshold"),
    [
        ("EmailBounceRateAlarm", "AWS/SES", "Reputation.BounceRate", 0.05),
        ("EmailComplaintRateAlarm", "AWS/SES", "Reputation.ComplaintRate", 0.001),
        ("SmsSpendAlarm", "AWS/SNS", "SMSMonthToDateSpentUSD", {"Ref": "SmsMonthlySpendAlarmUSD"}),
    ],
)
def test_the_account_level_alarms_watch_ses_reputation_and_sms_spend(
    sam_template: dict[str, Any],
    resources: dict[str, Any],
    logical_id: str,
    namespace: str,
    metric: str,
    threshold: Any,
) -> None:
    # Given one of the alarms on the account's sending
    alarm = resources[logical_id]["Properties"]
    # Then it watches the account's metric (no dimension) and fires at the threshold, keeps
    # its state while nothing is sent (the metric is only published then), and notifies
    # the alarm topic
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    assert "Dimensions" not in alarm
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == (
        "Maximum",
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["Threshold"] == threshold
    assert alarm["TreatMissingData"] == "ignore"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # (the spend threshold is a parameter in US dollars, below SNS's default limit of 1)
    parameter = sam_template["Parameters"]["SmsMonthlySpendAlarmUSD"]
    assert parameter["Type"] == "Number" and 0 < parameter["Default"] < 1


def test_the_table_alarm_sums_throttled_reads_and_writes_of_the_table_and_its_indexes(
    resources: dict[str, Any],
) -> None:
    # Given the alarm on DynamoDB throttling
    alarm = resources["TableThrottledAlarm"]["Properties"]
    (returned,) = [m for m in alarm["Metrics"] if m["ReturnData"]]
    inputs = [m["MetricStat"] for m in alarm["Metrics"] if not m["ReturnData"]]
    # When its inputs are read
    watched = {
        (
            stat["Metric"]["MetricName"],
            tuple(_resolve(d["Value"]) for d in stat["Metric"]["Dimensions"]),
        )
        for stat in inputs
    }
    # Then it adds up read and write throttle events of the table and of both indexes
    assert returned["Expression"] == "SUM(METRICS())"
    assert all(stat["Metric"]["Namespace"] == "AWS/DynamoDB" for stat in inputs)
    assert all((stat["Stat"], stat["Period"]) == ("Sum", 300) for stat in inputs)
    assert watched == {
        (f"{kind}ThrottleEvents", ("<Table>", *index))
        for kind in ("Read", "Write")
        for index in ((), ("due",), ("shop",))
    }
    # and fires on the first one, notifying the alarm topic
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_a_run_lambda_could_not_start_before_the_next_slot_is_dropped(
    resources: dict[str, Any],
) -> None:
    # Given the scheduler's asynchronous invocation settings (Scheduler invokes it so)
    (config,) = [
        v["Properties"]
        for v in resources.values()
        if v["Type"] == "AWS::Lambda::EventInvokeConfig"
        and v["Properties"]["FunctionName"] == {"Ref": "SchedulerFunction"}
    ]
    schedule_age = next(
        v["Properties"]["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"]
        for v in resources.values()
        if v["Type"] == "AWS::Scheduler::Schedule"
    )
    # Then a failed run is retried, but nothing is kept past the next five-minute slot
    assert config["MaximumRetryAttempts"] > 0
    assert config["MaximumEventAgeInSeconds"] == schedule_age < 300


# ---------------------------------------------------------------------------------- runbook


def test_every_alarm_is_explained_in_the_operations_runbook(sam_template: dict[str, Any]) -> None:
    # Given every alarm of the template and docs/operations.md
    alarms = sorted(
        k for k, v in sam_template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"
    )
    runbook = OPERATIONS.read_text()
    # Then each is named there by its logical id
    assert [a for a in alarms if not re.search(rf"\b{a}\b", runbook)] == []


def test_every_dead_letter_queue_has_its_redrive_in_the_operations_runbook(
    sam_template: dict[str, Any],
) -> None:
    # Given every queue of the template, and docs/operations.md's lines
    resources = sam_template["Resources"]
    queues = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    sources = {
        (_get_att(p["RedrivePolicy"]["deadLetterTargetArn"]) or ("",))[0]: k
        for k, p in queues.items()
        if "RedrivePolicy" in p
    }
    lines = OPERATIONS.read_text().splitlines()
    for logical_id, props in queues.items():
        if "RedrivePolicy" in props:
            continue
        name = _resolve(props["QueueName"], {"Stage": "<stage>"})
        # When the dead-letter queue is the redrive target of another queue
        # Then a start-message-move-task line moves its messages back to that queue
        if logical_id in sources:
            source = _resolve(queues[sources[logical_id]]["QueueName"], {"Stage": "<stage>"})
            assert any(
                "start-message-move-task" in line
                and f":{name} " in line
                and line.rstrip().endswith(f":{source}")
                for line in lines
            ), logical_id
        # and every dead-letter queue is named, with what to do about it
        assert any(name in line for line in lines), logical_id


def test_the_customer_page_writes_only_under_the_partitions_it_writes(
    resources: dict[str, Any],
) -> None:
    # Given the customer page role's DynamoDB statements
    statements = [
        s
        for role_id, s in _iam_statements(resources)
        if role_id == "CustomerPageFunctionRole"
        and any(a.startswith("dynamodb:") for a in _as_list(s["Action"]))
    ]
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"}
    # Then every statement that writes is held to the page's partitions, by key prefix
    writing = [s for s in statements if writes & set(_as_list(s["Action"]))]
    assert writing
    for statement in writing:
        assert statement["Condition"] == {
            "ForAllValues:StringLike": {
                "dynamodb:LeadingKeys": [
                    "CASE#*",
                    "PAGE#*",
                    "SHOP#*",
                    "NOTIFY#*",
                    "ROLLUP#*",
                    "WHO#*",
                ]
            }
        }
    # and what is granted without a condition only reads
    for statement in statements:
        if "Condition" not in statement:
            assert set(_as_list(statement["Action"])) <= {
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
            }


def test_the_customer_page_routes_are_throttled_on_their_own(
    sam_template: dict[str, Any],
) -> None:
    # Given the HTTP API's throttling
    api = sam_template["Resources"]["HttpApi"]["Properties"]
    default = api["DefaultRouteSettings"]
    routes = api["RouteSettings"]
    # Then the page's two public routes each have limits of their own, below the default
    # every other route (the webhooks) keeps
    for route in ("GET /c/{token}", "POST /c/{proxy+}"):
        limits = routes[route]
        assert 0 < limits["ThrottlingRateLimit"] < default["ThrottlingRateLimit"], route
        assert 0 < limits["ThrottlingBurstLimit"] < default["ThrottlingBurstLimit"], route
    assert not any(route.startswith("POST /webhooks") for route in routes)


def test_page_link_failures_are_alarmed(resources: dict[str, Any]) -> None:
    # Given the alarms on the application's metrics
    alarms = {a["MetricName"]: a for a in _alarms(resources) if a.get("Namespace") == "Recoup"}
    # Then a message without its page link, and fresh links not sent, each notify the topic
    for metric in ("PageLinkFailed", "PageLinkNotSent"):
        alarm = alarms[metric]
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "recoup"}], metric
        assert alarm["Statistic"] == "Sum", metric
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", metric
        assert alarm["TreatMissingData"] == "notBreaching", metric
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], metric
