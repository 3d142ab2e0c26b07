"""The Service Catalog portfolio template: a portfolio, the workload as a CloudFormation product
loaded from S3, who may launch it, and a least-privilege launch role."""

from __future__ import annotations

from awacs import cloudformation as cfn
from awacs import cloudwatch, events, kms, logs, s3, sns, sqs
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import (
    Equals, GetAtt, Join, Not, Output, Parameter, Ref, Select, Split, Sub, Tags, Template,
)
from troposphere.iam import Policy as IamPolicy
from troposphere.iam import Role
from troposphere.servicecatalog import (
    CloudFormationProduct, Info, LaunchRoleConstraint, Portfolio, PortfolioPrincipalAssociation,
    PortfolioProductAssociation, ProvisioningArtifactProperties,
)

TEMPLATE_URL_PATTERN = r"^https://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\.s3[.-][a-z0-9.-]*amazonaws\.com(\.cn)?/.+\.json$"
PRINCIPAL_PATTERN = r"^$|^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user|group)/[\w+=,.@/-]+$"
# Service Catalog names the stacks it launches "SC-<account>-pp-<id>"; CloudFormation names the
# product's resources after the stack, so the launch role is scoped to those names.
SC = "SC-*"


def _arn(service: str, resource: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:{service}:*:${{AWS::AccountId}}:{resource}")


def make_launch_role_policy(template_bucket: object) -> PolicyDocument:
    """What launching, updating and terminating the workload product needs, and no more."""
    a = lambda service, *names: [service.Action(n) for n in names]  # noqa: E731
    return PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="ManageProductStacks", Effect=Allow,
                  Action=a(cfn, "CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks",
                           "DescribeStackEvents", "DescribeStackResource", "DescribeStackResources",
                           "SetStackPolicy", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet",
                           "DeleteChangeSet"),
                  Resource=[_arn("cloudformation", f"stack/{SC}")]),
        Statement(Sid="ReadTemplates", Effect=Allow,
                  Action=a(cfn, "GetTemplateSummary", "ValidateTemplate"), Resource=["*"]),
        Statement(Sid="ReadTheProductTemplate", Effect=Allow, Action=[s3.GetObject],
                  Resource=[Join("", ["arn:", Ref("AWS::Partition"), ":s3:::", template_bucket, "/*"])]),
        Statement(Sid="AlertTopic", Effect=Allow,
                  Action=a(sns, "CreateTopic", "DeleteTopic", "GetTopicAttributes", "SetTopicAttributes",
                           "Subscribe", "Unsubscribe", "ListSubscriptionsByTopic", "TagResource",
                           "UntagResource"),
                  Resource=[_arn("sns", SC)]),
        # CreateKey has no resource to scope to; its conditions allow only the symmetric
        # encryption key the topic uses.
        Statement(Sid="CreateAlertTopicKey", Effect=Allow, Action=a(kms, "CreateKey"), Resource=["*"],
                  Condition=Condition(StringEquals({"kms:KeySpec": "SYMMETRIC_DEFAULT",
                                                    "kms:KeyUsage": "ENCRYPT_DECRYPT"}))),
        Statement(Sid="ManageAlertTopicKey", Effect=Allow,
                  Action=a(kms, "DescribeKey", "GetKeyPolicy", "PutKeyPolicy", "EnableKeyRotation",
                           "GetKeyRotationStatus", "ListResourceTags", "TagResource", "CreateAlias",
                           "DeleteAlias", "UpdateAlias"),
                  Resource=[_arn("kms", "key/*"), _arn("kms", f"alias/{SC}")]),
        Statement(Sid="Rules", Effect=Allow,
                  Action=a(events, "PutRule", "DeleteRule", "DescribeRule", "PutTargets",
                           "RemoveTargets", "EnableRule", "DisableRule", "TagResource"),
                  Resource=[_arn("events", f"rule/{SC}")]),
        Statement(Sid="Alarms", Effect=Allow,
                  Action=a(cloudwatch, "PutMetricAlarm", "DeleteAlarms", "DescribeAlarms", "TagResource"),
                  Resource=[_arn("cloudwatch", f"alarm:{SC}")]),
        Statement(Sid="MetricFilters", Effect=Allow,
                  Action=a(logs, "PutMetricFilter", "DeleteMetricFilter", "DescribeMetricFilters"),
                  # on the trail's log group, whose name is a launch parameter
                  Resource=[_arn("logs", "log-group:*")]),
        Statement(Sid="DeadLetterQueue", Effect=Allow,
                  Action=a(sqs, "CreateQueue", "DeleteQueue", "GetQueueAttributes", "SetQueueAttributes",
                           "TagQueue"),
                  Resource=[_arn("sqs", SC)]),
    ])


def make_service_catalog_template() -> Template:
    """Portfolio, product (version from an S3 URL), principal association, launch constraint."""
    t = Template(Description="Deletion alarms: AWS Service Catalog portfolio and product")
    t.set_version("2010-09-09")
    group = "Product"

    def param(name: str, label: str, **props: object) -> Parameter:
        p = t.add_parameter(Parameter(name, Type="String", **props))
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
    t.add_condition("AssociatePrincipal", Not(Equals(Ref(principal), "")))
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
    # The bucket of a virtual-hosted-style S3 URL: https://BUCKET.s3.REGION.amazonaws.com/KEY
    bucket = Select(0, Split(".s3", Select(2, Split("/", Ref(url)))))
    role = t.add_resource(Role(
        "LaunchRole",  # no RoleName: IAM names are global, a fixed one collides across Regions
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "servicecatalog.amazonaws.com"),
            Action=[AssumeRole])]),
        Policies=[IamPolicy(PolicyName="launch-deletion-alarms", PolicyDocument=make_launch_role_policy(bucket))],
        Tags=tags))
    t.add_resource(LaunchRoleConstraint(
        "LaunchConstraint", DependsOn=association.title, PortfolioId=Ref(portfolio),
        ProductId=Ref(product), RoleArn=GetAtt(role, "Arn"),
        Description="Launch with the least-privilege deletion-alarms launch role"))
    t.add_output(Output("PortfolioId", Value=Ref(portfolio)))
    t.add_output(Output("ProductId", Value=Ref(product)))
    t.add_output(Output("LaunchRoleArn", Value=GetAtt(role, "Arn")))
    return t
