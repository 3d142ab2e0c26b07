"""The Service Catalog portfolio template: a portfolio, the workload as a CloudFormation product
loaded from S3, who may launch it, and a least-privilege launch role; optionally shared through AWS
Organizations, with the launch role deployed in every account by a template of its own."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from awacs import cloudformation as cfn
from awacs import kms, s3
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import Equals, GetAtt, If, Join, Not, NoValue, Output, Parameter, Ref, Sub, Tags, Template
from troposphere.awslambda import Code, Function
from troposphere.cloudformation import CustomResource
from troposphere.iam import Policy as IamPolicy
from troposphere.iam import Role
from troposphere.servicecatalog import (
    CloudFormationProduct, Info, LaunchRoleConstraint, LaunchTemplateConstraint, Portfolio,
    PortfolioPrincipalAssociation, PortfolioProductAssociation, ProvisioningArtifactProperties,
)

from stacks.guardrails import SHARED_LAUNCH_ROLE_NAME
from stacks.notifier import RUNTIME
from stacks.parameters import COLLECTOR_BUS_PATTERN, EMAIL_PATTERN

TEMPLATE_URL_PATTERN = r"^https://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\.s3[.-][a-z0-9.-]*amazonaws\.com(\.cn)?/.+\.json$"
PRINCIPAL_PATTERN = r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user|group)/[\w+=,.@/-]+$"
# A role name with its path, * as a wildcard: the end of an IAM_PATTERN principal ARN.
SHARED_PRINCIPAL_PATTERN = r"^$|^[\w+=,.@*/-]{1,512}$"
SHARE_FUNCTION_SOURCE = Path(__file__).resolve().parents[1] / "functions" / "portfolio_share.py"
SHARE_FUNCTION_TIMEOUT = 900  # Lambda's maximum: an organization share may take minutes
SHARE = "ShareThroughOrganizations"
OWN_LAUNCH_ROLE = "OwnLaunchRole"
# Service Catalog names the stacks it launches "SC-<account>-pp-<id>"; CloudFormation names the
# product's resources after the stack, so the launch role is scoped to those names.
SC = "SC-*"


HANDLERS = ("create", "read", "update", "delete")
# Actions that the Service Authorization Reference lists with no resource type: IAM can grant them
# only on "*" (tests/stacks/test_servicecatalog.py checks this list against the reference).
UNSCOPED_ACTIONS = frozenset({
    "kms:CreateKey", "kms:ListAliases",
    "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
    "lambda:CreateEventSourceMapping", "logs:DescribeLogGroups",
})
# Handler permissions newer than the kept copy of the Service Authorization Reference (parliament's
# database): their resource types are unknown here, so they are granted on the product's resources
# of their service (UNCONFIRMED; a test lists exactly these, so a new unknown one fails it).
NOT_IN_REFERENCE = frozenset({
    "dynamodb:AssociateTableReplica", "lambda:GetFunctionScalingConfig",
    "lambda:PassCapacityProvider", "lambda:PutFunctionScalingConfig", "s3files:ListMountTargets",
})
# Handler permissions that serve only a property the workload never sets. They stay in the launch
# role (a handler's internals are not documented), narrowed where that costs nothing; the test
# checks that the template really never sets these properties.
UNSET_PROPERTY_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "iam:PassRole": ("AWS::SNS::Topic DeliveryStatusLogging", "AWS::SNS::Subscription SubscriptionRoleArn"),
    "iam:GetRole": ("AWS::SNS::Topic DeliveryStatusLogging", "AWS::SNS::Subscription SubscriptionRoleArn"),
    "sns:PutDataProtectionPolicy": ("AWS::SNS::Topic DataProtectionPolicy",),
    "kms:DisableKey": ("AWS::KMS::Key Enabled",),
    "iam:CreateServiceLinkedRole": ("AWS::DynamoDB::Table Replicas",),
}
# The services to which a role may be passed, for the handlers above that pass one.
PASSED_TO_SERVICES = ["sns.amazonaws.com", "events.amazonaws.com", "lambda.amazonaws.com"]


def _arn(service: str, resource: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:{service}:*:${{AWS::AccountId}}:{resource}")


def product_resource_arns() -> dict[str, list[Sub]]:
    """Per service, the ARNs of the resources a launched product creates: CloudFormation names them
    after the stack, SC-..., except KMS keys (random IDs) and the trail's log group (a parameter)."""
    return {
        "cloudwatch": [_arn("cloudwatch", f"alarm:{SC}")],
        "dynamodb": [_arn("dynamodb", f"table/{SC}")],
        # Handlers of properties the workload never sets (stream destinations, file systems, code
        # from S3): granted on the product's names, where IAM asks for a resource at all.
        "elasticfilesystem": [_arn("elasticfilesystem", f"file-system/{SC}")],
        "kinesis": [_arn("kinesis", f"stream/{SC}")],
        "lambda": [_arn("lambda", f"function:{SC}"), _arn("lambda", "event-source-mapping:*"),
                   _arn("lambda", "code-signing-config:*"), _arn("lambda", f"layer:{SC}")],
        "s3": [Sub(f"arn:${{AWS::Partition}}:s3:::{SC.lower()}/*")],
        "s3files": [_arn("s3files", f"*/{SC}")],
        "events": [_arn("events", f"rule/{SC}")],
        "iam": [Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{SC}")],
        "kms": [_arn("kms", "key/*"), _arn("kms", f"alias/{SC}")],
        "logs": [_arn("logs", "log-group:*")],
        "sns": [_arn("sns", SC)],
        "sqs": [_arn("sqs", SC)],
    }


def handler_permissions(resource_type: str) -> dict[str, frozenset[str]]:
    """The permissions of each CRUD handler of ``resource_type``, from the CloudFormation resource
    provider schema that cfn-lint ships."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # heavy import: only when building

    handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema.get("handlers", {})
    return {h: frozenset(handlers.get(h, {}).get("permissions", [])) for h in HANDLERS}


@functools.cache
def _iam_actions() -> dict[str, Any]:
    """cfn-lint's copy of the IAM action list (Policies.json): service prefix -> its actions."""
    import cfnlint  # heavy import: only when building

    path = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return json.loads(path.read_text())


def is_iam_action(action: str) -> bool:
    """Whether IAM knows ``action``, by cfn-lint's copy of the IAM action list. A few schemas list
    permissions that are no IAM action (lambda:AssociateRuntimeAlias, s3:GetObjectMetadata): no
    policy can grant or deny them, so the launch role leaves them out."""
    service, name = action.split(":")
    return name.lower() in _iam_actions().get(service, {}).get("Actions", {})


def required_actions(template: dict) -> frozenset[str]:
    """Every permission of the create, read, update and delete handlers of every resource of
    ``template``; a resource kept on deletion and replacement (DeletionPolicy and
    UpdateReplacePolicy Retain) never runs its delete handler, so what only that needs is left out."""
    needed: set[str] = set()
    for resource in template["Resources"].values():
        permissions = handler_permissions(resource["Type"])
        needed |= permissions["create"] | permissions["read"] | permissions["update"]
        if not resource.get("DeletionPolicy") == resource.get("UpdateReplacePolicy") == "Retain":
            needed |= permissions["delete"]
    return frozenset(a for a in needed if is_iam_action(a))


def make_launch_role_policy(product_template: dict) -> PolicyDocument:
    """What launching, updating and terminating the product needs: CloudFormation on its stacks,
    Service Catalog's copy of the template, and every handler permission of its resources, each
    scoped to the product's resources where IAM allows."""
    a = lambda service, *names: [service.Action(n) for n in names]  # noqa: E731
    actions = required_actions(product_template)
    statements = [
        Statement(Sid="ManageProductStacks", Effect=Allow,
                  Action=a(cfn, "CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks",
                           "DescribeStackEvents", "DescribeStackResource", "DescribeStackResources",
                           "SetStackPolicy", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet",
                           "DeleteChangeSet"),
                  Resource=[_arn("cloudformation", f"stack/{SC}")]),
        Statement(Sid="ReadTemplates", Effect=Allow,
                  Action=a(cfn, "GetTemplateSummary", "ValidateTemplate"), Resource=["*"]),
        # Service Catalog provisions from its own copy of the template, in a bucket it owns, and tags
        # that object (Service Catalog administrator guide, launch constraints).
        Statement(Sid="ReadServiceCatalogTemplateCopy", Effect=Allow, Action=[s3.GetObject], Resource=["*"],
                  Condition=Condition(StringEquals("s3:ExistingObjectTag/servicecatalog:provisioning", "true"))),
    ]
    arns = product_resource_arns()
    by_service: dict[str, list[str]] = {}
    for action in sorted(actions - UNSCOPED_ACTIONS - {"iam:PassRole"}):
        by_service.setdefault(action.split(":")[0], []).append(action)
    for service, names in sorted(by_service.items()):
        if service not in arns:
            raise ValueError(f"no product resource ARNs for {service}: add them to product_resource_arns")
        statements.append(Statement(
            Sid=f"{service.capitalize()}OnProductResources", Effect=Allow,
            Action=[Action(*n.split(":")) for n in names], Resource=arns[service]))
    unscoped = sorted(actions & UNSCOPED_ACTIONS - {"kms:CreateKey"})
    statements.append(Statement(Sid="ActionsWithoutResourceTypes", Effect=Allow,
                                Action=[Action(*n.split(":")) for n in unscoped], Resource=["*"]))
    if "kms:CreateKey" in actions:
        # Only the symmetric encryption key the topic uses.
        statements.append(Statement(
            Sid="CreateAlertTopicKey", Effect=Allow, Action=a(kms, "CreateKey"), Resource=["*"],
            Condition=Condition(StringEquals({"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT"}))))
    if "iam:PassRole" in actions:
        statements.append(Statement(
            Sid="PassProductRolesToItsServices", Effect=Allow, Action=[Action("iam", "PassRole")],
            Resource=arns["iam"], Condition=Condition(StringEquals("iam:PassedToService", PASSED_TO_SERVICES))))
    return PolicyDocument(Version="2012-10-17", Statement=statements)


def end_user_rules() -> dict:
    """Template constraint rules (CloudFormation Rules syntax) for the product's end users, with
    ${RequiredEmail} and ${RequiredBus} for the portfolio administrator's choices. What an end user
    can change at launch or update is what an insider could use to silence the alerts for everyone."""
    def equals(parameter: str, value: str) -> dict:
        return {"Fn::Equals": [{"Ref": parameter}, value]}

    def rule(description: str, check: dict) -> dict:
        return {"Assertions": [{"Assert": check, "AssertDescription": description}]}

    return {
        "EveryDetectionStaysOn": rule(
            "KmsKeyMonitoring and SecretMonitoring stay Enabled, DetectionMode AccessAndDeletion, and "
            "DetectionEngine EventBridge or Both (set by the portfolio's administrators).",
            {"Fn::And": [equals("KmsKeyMonitoring", "Enabled"), equals("SecretMonitoring", "Enabled"),
                         equals("DetectionMode", "AccessAndDeletion"),
                         {"Fn::Not": [equals("DetectionEngine", "CloudWatchLogs")]}]}),
        "NobodyIsExempt": rule(
            "ExpectedDeleterArns stays none: exemptions are for the portfolio's administrators to grant.",
            equals("ExpectedDeleterArns", "none")),
        "AlertsGoWhereTheAdministratorsSay": rule(
            "NotificationEmail must be ${RequiredEmail} with no ExistingTopicArn, and CollectorEventBusArn "
            "must be '${RequiredBus}' (set by the portfolio's administrators).",
            {"Fn::And": [
                {"Fn::Or": [{"Fn::Equals": ["${RequiredEmail}", ""]}, {"Fn::And": [
                    equals("NotificationEmail", "${RequiredEmail}"), equals("ExistingTopicArn", "")]}]},
                equals("CollectorEventBusArn", "${RequiredBus}")]}),
    }


def make_service_catalog_template(product_template: dict) -> Template:
    """Portfolio, product (version from an S3 URL), principal association, launch constraint, and a
    launch role made for ``product_template`` (the workload, as a dict)."""
    t = Template(Description="Deletion alarms: AWS Service Catalog portfolio and product")
    t.set_version("2010-09-09")
    group = "Product"

    def param(name: str, label: str, **props: Any) -> Parameter:
        p = t.add_parameter(Parameter(name, **{"Type": "String", **props}))
        t.add_parameter_to_group(p, group)
        t.set_parameter_label(p, label)
        return p

    url = param("TemplateUrl", "Workload template URL",
                Description="https URL of dist/deletion-alarms.json in S3, as printed by 'deletion-alarms publish'.",
                AllowedPattern=TEMPLATE_URL_PATTERN,
                ConstraintDescription="must be an https S3 URL of a .json template")
    version = param("ProductVersion", "Product version name", Default="v1",
                    Description="Name of this product version (provisioning artifact), e.g. the package version.",
                    AllowedPattern=r"^[A-Za-z0-9._+-]{1,100}$",
                    ConstraintDescription="1 to 100 characters: letters, digits . _ + -")
    principal = param("PrincipalArn", "IAM principal that may launch it",
                      Description="ARN of an IAM role, user or group given access to the portfolio; empty for none.",
                      Default="", AllowedPattern=PRINCIPAL_PATTERN,
                      ConstraintDescription="must be empty or an IAM role, user or group ARN")
    owner = param("ProviderName", "Provider / owner", Default="Security team",
                  Description="Shown to users as the portfolio provider and product owner.",
                  AllowedPattern=r"^.{1,50}$", ConstraintDescription="1 to 50 characters")
    required_email = param(
        "RequiredNotificationEmail", "Email every launch must alert (optional)", Default="",
        Description=("When given, end users may launch or update the product only with this NotificationEmail "
                     "(or an ExistingTopicArn), so an update cannot send the team's alerts elsewhere."),
        AllowedPattern=EMAIL_PATTERN, ConstraintDescription="must be empty or an email address")
    required_bus = param(
        "RequiredCollectorEventBusArn", "Collector bus every launch must forward to (optional)", Default="",
        Description=("The organization's collector bus, when launches forward to it: end users may set "
                     "CollectorEventBusArn to this value only. Empty: they may not forward."),
        AllowedPattern=COLLECTOR_BUS_PATTERN, ConstraintDescription="must be empty or an event bus ARN")
    share_with = param(
        "ShareWith", "Share with: organization, OUs or accounts (optional)", Type="CommaDelimitedList", Default="",
        Description=("Organization ID (o-...), OU IDs (ou-...) or account IDs to share the portfolio with through "
                     "AWS Organizations, from this account: the management account or Service Catalog's delegated "
                     f"administrator. Launches then use the role {SHARED_LAUNCH_ROLE_NAME} of the launching account "
                     "(dist/deletion-alarms-launch-role.json, deployed there and here first). Empty: this account only."))
    shared_name = param(
        "SharedPrincipalName", "Role name that may launch in every account (optional)", Default="",
        Description=("A role name, path included and * as a wildcard (e.g. aws-reserved/sso.amazonaws.com/"
                     "AWSReservedSSO_PlatformEngineers_*), that may launch the product in every account it is shared "
                     "with (principal name sharing). Empty: each account's administrator grants access."),
        AllowedPattern=SHARED_PRINCIPAL_PATTERN,
        ConstraintDescription="must be empty or a role name with its path (letters, digits, + = , . @ - _ / *)")
    t.add_condition("AssociatePrincipal", Not(Equals(Ref(principal), "")))
    t.add_condition("AssociateSharedPrincipal", Not(Equals(Ref(shared_name), "")))
    t.add_condition(SHARE, Not(Equals(Join("", Ref(share_with)), "")))
    t.add_condition(OWN_LAUNCH_ROLE, Equals(Join("", Ref(share_with)), ""))
    tags = Tags(Product="deletion-alarms")

    portfolio = t.add_resource(Portfolio(
        "Portfolio", DisplayName="Deletion alarms", ProviderName=Ref(owner), Tags=tags,
        Description="Alerts when a KMS key or Secrets Manager secret is about to be lost."))
    product = t.add_resource(CloudFormationProduct(
        "Product", Name="Deletion alarms", Owner=Ref(owner), Tags=tags,
        Description="Warns when a KMS key or secret is scheduled for deletion or used while pending deletion.",
        ProvisioningArtifactParameters=[ProvisioningArtifactProperties(
            Name=Ref(version), Info=Info(LoadTemplateFromURL=Ref(url)),
            Description="deletion-alarms workload template")]))
    association = t.add_resource(PortfolioProductAssociation(
        "PortfolioProduct", PortfolioId=Ref(portfolio), ProductId=Ref(product)))
    t.add_resource(PortfolioPrincipalAssociation(
        "PortfolioPrincipal", Condition="AssociatePrincipal", PortfolioId=Ref(portfolio),
        PrincipalARN=Ref(principal), PrincipalType="IAM"))
    role = t.add_resource(launch_role(
        product_template, Condition=OWN_LAUNCH_ROLE,
        # No RoleName: IAM names are global, a fixed one collides across Regions. The path makes it a
        # deploy role of the guardrail SCP (arn:*:iam::*:role/deletion-alarms/*), so that launching,
        # updating and terminating the product may change protected resources.
        Path="/deletion-alarms/"))
    t.add_resource(LaunchTemplateConstraint(
        "EndUserConstraint", DependsOn=association.title, PortfolioId=Ref(portfolio), ProductId=Ref(product),
        Description="End users cannot switch detections off, exempt everyone, or send the alerts elsewhere",
        Rules=Sub(json.dumps(end_user_rules(), sort_keys=True), RequiredEmail=Ref(required_email),
                  RequiredBus=Ref(required_bus))))
    # Shared: the role of that name in the account that launches (it must exist there and here).
    launch = t.add_resource(LaunchRoleConstraint(
        "LaunchConstraint", DependsOn=association.title, PortfolioId=Ref(portfolio),
        ProductId=Ref(product), RoleArn=If(SHARE, NoValue, GetAtt(role, "Arn")),
        LocalRoleName=If(SHARE, SHARED_LAUNCH_ROLE_NAME, NoValue),
        Description="Launch with the least-privilege deletion-alarms launch role",
        # One resource whose property switches, so that changing ShareWith updates the constraint in
        # place (a second constraint on the same product would be refused). cfn-lint checks the schema's
        # oneOf(LocalRoleName, RoleArn) without deciding the Fn::If; tests/stacks/test_servicecatalog.py
        # lints each decided configuration with no check ignored.
        Metadata={"cfn-lint": {"config": {"ignore_checks": ["E3003", "E3018"]}}}))
    t.add_resource(PortfolioPrincipalAssociation(
        "PortfolioSharedPrincipal", Condition="AssociateSharedPrincipal", PortfolioId=Ref(portfolio),
        PrincipalARN=Sub("arn:${AWS::Partition}:iam:::role/${Name}", Name=Ref(shared_name)),
        PrincipalType="IAM_PATTERN"))
    add_organization_share(t, Ref(portfolio), Ref(share_with), [association.title, launch.title, "EndUserConstraint"])
    t.add_output(Output("PortfolioId", Value=Ref(portfolio)))
    t.add_output(Output("ProductId", Value=Ref(product)))
    t.add_output(Output("LaunchRoleArn", Condition=OWN_LAUNCH_ROLE, Value=GetAtt(role, "Arn")))
    return t


def launch_role(product_template: dict, title: str = "LaunchRole", **props: Any) -> Role:
    """The launch role: assumed by Service Catalog, with the least-privilege policy for
    ``product_template``."""
    return Role(
        title,
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "servicecatalog.amazonaws.com"),
            Action=[AssumeRole])]),
        Policies=[IamPolicy(PolicyName="launch-deletion-alarms",
                            PolicyDocument=make_launch_role_policy(product_template))],
        Tags=Tags(Product="deletion-alarms"), **props)


def make_launch_role_template(product_template: dict) -> Template:
    """The launch role of a shared portfolio, named for the launch constraint's LocalRoleName: once
    per account (IAM is global), in every account the portfolio is shared with and in the
    administering account."""
    t = Template(Description=(
        f"Deletion alarms: the Service Catalog launch role {SHARED_LAUNCH_ROLE_NAME} of the shared portfolio. "
        "Deploy once per account, in one Region: to every account the portfolio is shared with (a "
        "service-managed stack set) and to the administering account."))
    t.set_version("2010-09-09")
    # No path: the name alone is what the launch constraint gives, and the guardrail SCP lets only
    # the deploy roles create, change or pass a role of this name.
    role = t.add_resource(launch_role(product_template, RoleName=SHARED_LAUNCH_ROLE_NAME))
    t.add_output(Output("LaunchRoleArn", Value=GetAtt(role, "Arn")))
    return t


def share_function_policy(portfolio: Ref) -> PolicyDocument:
    """What the share function does: share and unshare this portfolio, read the shares' status
    (DescribePortfolioShareStatus has no resource type in the Service Authorization Reference), and
    write its logs. AWSServiceCatalogAdminFullAccess, the managed policy for administrators who
    share with an organization, grants no Organizations action: sharing needs none of the caller."""
    catalog = Sub("arn:${AWS::Partition}:catalog:${AWS::Region}:${AWS::AccountId}:portfolio/${Id}", Id=portfolio)
    return PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="ShareThisPortfolio", Effect=Allow, Resource=[catalog], Action=[
            Action("servicecatalog", a) for a in (
                "CreatePortfolioShare", "UpdatePortfolioShare", "DeletePortfolioShare", "DescribePortfolioShares")]),
        Statement(Sid="ReadShareStatus", Effect=Allow, Resource=["*"],
                  Action=[Action("servicecatalog", "DescribePortfolioShareStatus")]),
        Statement(Sid="WriteItsLogs", Effect=Allow, Action=[
            Action("logs", a) for a in ("CreateLogGroup", "CreateLogStream", "PutLogEvents")],
            Resource=[Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/*")]),
    ])


# checkov checks that cannot hold for a function CloudFormation alone invokes, a few times a year.
CHECKOV_SHARE_FUNCTION = {"checkov": {"skip": [
    {"id": "CKV_AWS_115", "comment": "No reserved concurrency: CloudFormation invokes it once per stack "
                                     "change of the portfolio"},
    {"id": "CKV_AWS_116", "comment": "A custom resource handler: it answers CloudFormation on every "
                                     "failure, a dead-letter queue would hold nothing to act on"},
    {"id": "CKV_AWS_117", "comment": "Calls only Service Catalog and the presigned response URL; no data "
                                     "of the organization's networks"},
]}}


def add_organization_share(t: Template, portfolio: Ref, share_with: Ref, after: list[str]) -> None:
    """The portfolio's shares with the organization nodes of ``share_with``: a custom resource,
    since CloudFormation's PortfolioShare takes account IDs only (functions/portfolio_share.py).
    It comes ``after`` the product and constraints, so a recipient never sees the product without
    its launch constraint, and on deletion it goes first."""
    role = t.add_resource(Role(
        "ShareFunctionRole", Condition=SHARE,
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "lambda.amazonaws.com"), Action=[AssumeRole])]),
        Policies=[IamPolicy(PolicyName="share-portfolio", PolicyDocument=share_function_policy(portfolio))],
        Tags=Tags(Product="deletion-alarms")))
    function = t.add_resource(Function(
        "ShareFunction", Condition=SHARE,
        Description="Shares the deletion-alarms portfolio through AWS Organizations (custom resource)",
        Runtime=RUNTIME, Architectures=["arm64"], Handler="index.handler",
        Code=Code(ZipFile=SHARE_FUNCTION_SOURCE.read_text()), Role=GetAtt(role, "Arn"),
        Timeout=SHARE_FUNCTION_TIMEOUT, MemorySize=128, Metadata=CHECKOV_SHARE_FUNCTION,
        Tags=Tags(Product="deletion-alarms")))
    t.add_resource(CustomResource(
        "PortfolioOrganizationShare", Condition=SHARE, DependsOn=after,
        ServiceToken=GetAtt(function, "Arn"),
        # Past the function's own answer: only a function that crashed leaves CloudFormation waiting.
        ServiceTimeout=SHARE_FUNCTION_TIMEOUT + 60,
        PortfolioId=portfolio, OrganizationNodes=share_with, SharePrincipals="true"))
