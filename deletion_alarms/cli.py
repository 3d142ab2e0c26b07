"""The ``deletion-alarms`` command: the operations that call AWS, and the offline proofs.

    deletion-alarms test-patterns        prove every detection on the labelled CloudTrail corpus
    deletion-alarms test-patterns --live ... and compare with AWS's own TestMetricFilter verdicts
    deletion-alarms publish              upload dist/ to S3 under a versioned key, print the URLs
    deletion-alarms service-catalog      create the product / add a version when the template changed
    deletion-alarms stackset             create or update the stack set and its instances, and wait
    deletion-alarms doctor               check that this account's CloudTrail can feed the detections
    deletion-alarms drill                prove that a deployed stack alerts; time to alert per detection
    deletion-alarms backtest SOURCE      replay CloudTrail history through the detections
    deletion-alarms inventory            every key and secret pending deletion now, with days left

Building the templates is ``python build.py`` in a checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from deletion_alarms.words import plural
from detections.errors import UsageError, UserError

PROG = "deletion-alarms"
COMMANDS = ("test-patterns", "publish", "service-catalog", "stackset", "doctor", "drill", "backtest", "inventory")


def bounded_int(low: int, high: int | None = None):
    """An argparse type: a whole number from ``low`` (to ``high``), named in the error."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"{value} is out of range: {low} to {high}" if high is not None else f"{value} is below {low}")
        return value
    return parse


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} is not above 0 seconds")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line on stderr and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks, and shows each option's default unless its help does."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.default not in (None, False, argparse.SUPPRESS, [])
                and action.option_strings):
            text += " (default: %(default)s)"
        return text


# One example per subcommand, shown by its --help (the README has the longer stories).
EXAMPLES = {
    "test-patterns": "deletion-alarms test-patterns\n  deletion-alarms test-patterns --live --region us-east-1",
    "publish": "deletion-alarms publish --bucket templates-111122223333 --region us-east-1",
    "service-catalog": ("deletion-alarms service-catalog --region us-east-1 --template-url "
                        "https://templates-111122223333.s3.us-east-1.amazonaws.com/deletion-alarms/0.1.0/"
                        "0123abcd/deletion-alarms.json"),
    "stackset": ("deletion-alarms stackset --region us-east-1 --template-url URL --ou r-abcd \\\n"
                 "    --target-region us-east-1 --target-region eu-west-1 \\\n"
                 "    --parameter NotificationEmail=security-team@example.com --dry-run"),
    "doctor": "deletion-alarms doctor --region us-east-1 --stack-name deletion-alarms",
    "drill": "deletion-alarms drill --stack-name deletion-alarms --region us-east-1",
    "inventory": ("deletion-alarms inventory --organization --role-name OrganizationAccountAccessRole "
                  "--fail-within 7"),
    "backtest": ("deletion-alarms backtest s3://cloudtrail-111122223333/AWSLogs/111122223333/CloudTrail/ \\\n"
                 "    --start 2026-11-01 --end 2026-12-01 --html report.html\n"
                 "  deletion-alarms backtest --athena --trail-bucket cloudtrail-111122223333 \\\n"
                 "    --accounts 111122223333 --regions us-east-1 --start 2026-11-01 --end 2026-12-01"),
}
EXIT_STATUSES = ("exit status: 0 done, 1 failed or found a problem, 2 bad command line, "
                 "130 interrupted (Ctrl-C), 141 output closed")


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description=__doc__, epilog=EXIT_STATUSES, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parser = commands.add_parser

    def add_command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, formatter_class=HelpFormatter,
                          epilog=f"example:\n  {EXAMPLES[name]}\n\n{EXIT_STATUSES}", **kwargs)

    commands.add_parser = add_command  # type: ignore[method-assign]

    test = commands.add_parser(
        "test-patterns", help="prove every detection's filter pattern on labelled records",
        description="Run every detection's filter pattern over the labelled CloudTrail corpus, "
        "print a matrix of expected and actual verdicts, and exit 1 on any mismatch.")
    test.add_argument("--corpus", type=Path, default=None,
                      help="folder of labelled sample files (default: the corpus the command carries)")
    test.add_argument("--live", action="store_true",
                      help="also send the records to the CloudWatch Logs TestMetricFilter API and "
                      "report every verdict where AWS differs from the offline engine")
    add_aws_options(test)

    pub = commands.add_parser("publish", help="upload dist/ to S3 under a versioned key",
                              description="Upload every file of dist/ to s3://BUCKET/PREFIX/VERSION/HASH/ "
                              "(idempotent: content already there is not uploaded again) and print the URLs.")
    pub.add_argument("--bucket", required=True, help="S3 bucket (it must exist)")
    pub.add_argument("--prefix", default="deletion-alarms/", help="key prefix (default deletion-alarms/)")
    add_dist_option(pub)
    pub.add_argument("--version", default=None, help="version in the key (default: the package version)")
    add_aws_options(pub)

    sc = commands.add_parser("service-catalog", help="create the product, add a version when the template changed",
                             description="Create the Service Catalog product if absent and add a version "
                             "(provisioning artifact) only when dist/deletion-alarms.json changed.")
    sc.add_argument("--template-url", required=True, help="URL printed by publish for deletion-alarms.json")
    add_dist_option(sc)
    sc.add_argument("--product-name", default="Deletion alarms", help="Service Catalog product name")
    sc.add_argument("--owner", default="Security team", help="product owner shown to users")
    sc.add_argument("--version", default=None, help="version name (default: the package version)")
    sc.add_argument("--deprecate-older", action="store_true", help="mark every other version deprecated")
    add_aws_options(sc)

    ss = commands.add_parser("stackset", help="create or update the stack set and its instances",
                             description="Create or update the stack set, add instances for the given "
                             "OUs (service-managed) or accounts (self-managed) and Regions, show progress, "
                             "wait, print a summary, and exit 1 if any instance failed. Never deletes "
                             "instances unless --delete-instances is given.")
    ss.add_argument("--template-url", required=True, help="URL printed by publish for deletion-alarms.json")
    ss.add_argument("--name", default="deletion-alarms", help="stack set name (default deletion-alarms)")
    ss.add_argument("--ou", action="append", default=[], help="target OU or root ID (repeatable)")
    ss.add_argument("--account", action="append", default=[], help="target account ID (repeatable)")
    ss.add_argument("--target-region", action="append", default=[], help="target Region (repeatable)")
    ss.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                    help="workload parameter (repeatable), e.g. NotificationEmail=security-team@example.com")
    ss.add_argument("--failure-tolerance", type=bounded_int(0, 100), default=0,
                    help="percentage of instances that may fail per Region (default 0)")
    ss.add_argument("--max-concurrent", type=bounded_int(1, 100), default=25,
                    help="percentage of accounts deployed at once (default 25)")
    ss.add_argument("--timeout", type=positive_seconds, default=3600, help="seconds to wait (default 3600)")
    ss.add_argument("--dry-run", action="store_true", help="print the plan and stop: no call that changes anything")
    ss.add_argument("--yes", action="store_true", help="do not ask before deploying (needed without a terminal)")
    ss.add_argument("--poll", type=float, default=15, help=argparse.SUPPRESS)
    ss.add_argument("--delete-instances", action="store_true",
                    help="remove the instances of the given targets instead")
    ss.add_argument("--delete-stacks", action="store_true",
                    help="with --delete-instances: delete the stacks too (default: keep them)")
    add_aws_options(ss)

    doc = commands.add_parser("doctor", help="check that CloudTrail can feed the detections here",
                              description="Check this account and Region: a logging trail, Read and KMS "
                              "management events, and for the metric-filter engine the trail's log group, "
                              "its Region, fresh records and metric-filter quota; with --stack-name, "
                              "the email subscription. Exit 1 on any problem.")
    doc.add_argument("--engine", choices=["EventBridge", "CloudWatchLogs", "Both"], default="EventBridge",
                     help="the DetectionEngine you deploy or plan to")
    doc.add_argument("--log-group", help="the CloudTrailLogGroupName you plan to use")
    doc.add_argument("--stack-name", help="a deployed deletion-alarms stack to check too")
    doc.add_argument("--collector-stack", help="in the collector's account: check the collector stack "
                     "(its bus admits the organization; its topic reaches someone)")
    add_aws_options(doc)

    dr = commands.add_parser(
        "drill", help="prove that a deployed stack alerts, and measure the time to alert",
        description="In this account and Region: subscribe a temporary queue to the stack's alert topic, "
        "create a throwaway KMS key and secret, trigger every deployed detection for real, wait for each "
        "alarm notification, print per detection whether it arrived and after how many seconds, and clean "
        "up whatever happened (a later run also removes what an interrupted one left). Exit 1 if any "
        "expected alert did not arrive.")
    dr.add_argument("--stack-name", required=True, help="the deployed deletion-alarms stack")
    dr.add_argument("--timeout", type=positive_seconds, default=900,
                    help="seconds to wait for the alerts (default 900)")
    dr.add_argument("--yes", action="store_true", help="do not ask before creating anything")
    dr.add_argument("--collector-stack", help="for a stack that forwards: the collector stack, whose topic "
                    "the drill watches")
    dr.add_argument("--collector-profile", help="AWS profile of the collector's account (default: --profile)")
    dr.add_argument("--collector-region", help="Region of the collector (default: --region)")
    add_aws_options(dr)

    bt = commands.add_parser(
        "backtest", help="replay CloudTrail history through the detections",
        description="Report, per detection, how often it would have fired over CloudTrail archives: "
        "folders or files of CloudTrail log files (.json.gz with Records), JSON lines (as exported "
        "from CloudWatch Logs), or s3://bucket/prefix. With --athena-sql, print instead the SQL that "
        "finds the same records in Athena's CloudTrail table. Exits 1 when it read no record, or "
        "could not read a file (after the report of the rest).")
    bt.add_argument("sources", nargs="*", metavar="SOURCE", help="file, folder or s3://bucket/prefix")
    bt.add_argument("--mode", choices=["AccessAndDeletion", "AccessOnly", "DeletionOnly"], default="AccessAndDeletion",
                    help="the DetectionMode to replay")
    bt.add_argument("--engine", choices=["EventBridge", "CloudWatchLogs", "Both"], default="EventBridge",
                    help="the DetectionEngine to replay (rules, metric filters or both)")
    bt.add_argument("--start", help="first eventTime included, ISO 8601 (e.g. 2026-11-01T00:00:00Z)")
    bt.add_argument("--end", help="first eventTime excluded, ISO 8601")
    bt.add_argument("--late-days", type=bounded_int(0, 30), default=1, metavar="DAYS",
                    help="with a window, CloudTrail log files delivered up to this many days after --end are read "
                    "(a file holds records written before its delivery time, in its name; Athena: the daily "
                    "partitions). Files delivered before --start are never read. Default 1; 0 reads only "
                    "files delivered within the window")
    bt.add_argument("--period", type=int, default=60, choices=[60, 300, 900, 3600],
                    help="alarm period in seconds, for counting the periods an alarm would fire in")
    bt.add_argument("--expected-deleter", action="append", default=[], metavar="ARN_PATTERN",
                    help="principal ARN pattern whose deletions are expected, as in the ExpectedDeleterArns "
                    "parameter (repeatable; EventBridge engine only): shows the noise it removes")
    bt.add_argument("--format", choices=["text", "json"], default="text", help="report format on stdout")
    bt.add_argument("--html", type=Path, metavar="FILE",
                    help="also write the report as one self-contained HTML file (timelines and tables)")
    bt.add_argument("--workers", type=bounded_int(1), default=None, help="processes (default: one per core)")
    bt.add_argument("--athena-sql", action="store_true", help="print the Athena SQL of each detection")
    bt.add_argument("--athena-table", default="cloudtrail_logs", help="Athena table (default cloudtrail_logs)")
    ath = bt.add_argument_group("on Athena (--athena): one query over the trail's table, the same report")
    ath.add_argument("--athena", action="store_true",
                     help="run the backtest in Athena over --trail-bucket, for --accounts and --regions, "
                     "between --start and --end (needed): one scan of those partitions only")
    ath.add_argument("--trail-bucket", help="the S3 bucket the trail writes to")
    ath.add_argument("--trail-prefix", default="", help="the trail's S3 key prefix, if it has one")
    ath.add_argument("--organization-id", default="", help="o-... for an organization trail (its logs sit "
                     "under AWSLogs/o-.../ACCOUNT/)")
    ath.add_argument("--accounts", help="comma-separated account IDs whose logs to read")
    ath.add_argument("--regions", help="comma-separated Regions whose logs to read")
    ath.add_argument("--athena-database", default="default", help="Glue database of the table (default: default)")
    ath.add_argument("--athena-workgroup", default="primary", help="Athena workgroup (default: primary)")
    ath.add_argument("--athena-output", help="s3:// location for query results (default: the workgroup's)")
    ath.add_argument("--create-table", action="store_true",
                     help="create --athena-table first (if it does not exist), with partition projection over "
                     "the trail's S3 layout")
    ath.add_argument("--yes", action="store_true", help="run the query without asking (needed without a terminal)")
    add_aws_options(bt)

    inv = commands.add_parser(
        "inventory", help="every key and secret pending deletion now, with days left",
        description="List every KMS key pending deletion and every secret scheduled for deletion, in every "
        "enabled Region of this account (or of the accounts given), with the days left, who scheduled it "
        "and whether it was used since (CloudTrail event history). Read-only. Exit 1 when anything is "
        "within --fail-within days, for CI and cron.")
    inv.add_argument("--account", action="append", default=[], help="an account ID to read (repeatable; "
                     "default: this account); others than this one through --role-name")
    inv.add_argument("--organization", action="store_true",
                     help="every active account of the organization, through --role-name")
    inv.add_argument("--role-name", help="the role to assume in the other accounts, e.g. "
                     "OrganizationAccountAccessRole (read-only permissions suffice)")
    inv.add_argument("--regions", help="comma-separated Regions (default: every Region enabled for the account)")
    inv.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format")
    inv.add_argument("--fail-within", type=bounded_int(0), metavar="DAYS",
                     help="exit 1 when a key or secret is deleted within DAYS days")
    inv.add_argument("--workers", type=bounded_int(1, 64), default=8, help="account-Regions read at once")
    inv.add_argument("--html", type=Path, metavar="FILE",
                     help="also write the inventory as one self-contained HTML file (soonest first)")
    add_aws_options(inv)
    return parser


def package_version() -> str:
    """The installed package's version (the one in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deletion-alarms")
    except PackageNotFoundError:  # run from a checkout that was never installed
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def aws_clients(args: argparse.Namespace, *services: str) -> tuple[Any, ...]:
    from deletion_alarms import awsclient

    session = awsclient.make_session(args.profile, args.region)
    return session, *(awsclient.make_client(session, s, args.endpoint_url) for s in services)


def publish(args: argparse.Namespace) -> int:
    from deletion_alarms.publishing import publish as upload

    from deletion_alarms.bundled import folder

    dist = folder("templates", args.dist)
    session, s3 = aws_clients(args, "s3")
    files = sorted(dist.glob("*.json"))
    upload(s3, args.bucket, args.prefix, args.version or package_version(), files, session.region_name, print)
    return 0


def service_catalog(args: argparse.Namespace) -> int:
    from deletion_alarms.publishing import content_hash, ensure_product

    from deletion_alarms.bundled import folder

    workload = folder("templates", args.dist) / "deletion-alarms.json"
    if not workload.is_file():
        raise UserError(f"--dist: no deletion-alarms.json in {workload.parent}")
    _, sc = aws_clients(args, "servicecatalog")
    digest = content_hash(workload.read_bytes())
    ensure_product(sc, args.product_name, args.owner, args.template_url, args.version or package_version(),
                   digest, args.deprecate_older, print)
    return 0


def confirm(yes: bool, what: str) -> None:
    """Ask before an action with effects beyond this run; refuse without a terminal unless --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{what}: confirm with --yes when not on a terminal")
    if input("Go on? [y/N] ").strip().lower() not in ("y", "yes"):
        raise UserError("nothing done")


def stackset(args: argparse.Namespace) -> int:
    from deletion_alarms import publishing
    from deletion_alarms.bundled import folder

    session, cfn = aws_clients(args, "cloudformation")
    known = {r for p in session.get_available_partitions() for r in session.get_available_regions("cloudformation", p)}
    publishing.validate_targets(args.ou, args.account, args.target_region, known)
    if args.delete_instances:
        confirm(args.yes, f"removing the instances of stack set {args.name} in {', '.join(args.target_region)}")
        publishing.delete_instances(cfn, args.name, args.ou, args.account, args.target_region,
                                    not args.delete_stacks, args.timeout, args.poll, print)
        return 0
    parameters = dict(p.split("=", 1) for p in args.parameter if "=" in p)
    if len(parameters) != len(args.parameter):
        raise UsageError("--parameter takes KEY=VALUE")
    publishing.validate_parameters(parameters, json.loads((folder("templates", None) / "deletion-alarms.json").read_text()))
    publishing.validate_topic_region(parameters, args.target_region)
    print(publishing.describe_stackset_plan(args.name, args.template_url, parameters, args.ou, args.account,
                                            args.target_region))
    if args.dry_run:
        print("dry run: nothing deployed")
        return 0
    confirm(args.yes, "the stack set deploys to every account and Region above")
    try:
        statuses = publishing.deploy_stackset(
            cfn, args.name, args.template_url, parameters, args.ou, args.account, args.target_region,
            failure_tolerance=args.failure_tolerance, max_concurrent=args.max_concurrent,
            timeout=args.timeout, poll=args.poll, say=print)
    except KeyboardInterrupt:
        raise Interrupted(f"stopped waiting; an operation already started goes on in AWS (aws cloudformation "
                          f"list-stack-set-operations --stack-set-name {args.name})") from None
    failed = [s for s in statuses if s.failed]
    for s in statuses:
        print(f"{s.account} {s.region:<15} {s.status} {s.reason}".rstrip())
    print(f"{len(statuses)} instances, {len(failed)} failed")
    return 1 if failed else 0


def backtest(args: argparse.Namespace) -> int:
    from deletion_alarms import backtest as bt

    options = bt.Options(args.mode, args.engine, args.start, args.end, args.period,
                         tuple(args.expected_deleter), args.late_days)
    if args.athena_sql:
        from detections.athena import detection_sql

        print("\n\n".join(detection_sql(d, args.athena_table, args.start, args.end) for d in options.detections()))
        return 0
    if args.athena:
        show_backtest(args, athena_backtest(args, options), options, f"Athena table {args.athena_table}")
        return 0
    if not args.sources:
        raise UsageError("backtest needs at least one SOURCE (file, folder or s3://bucket/prefix), or --athena-sql")
    if args.html and not args.html.parent.is_dir():  # before the work, not after it
        raise UsageError(f"--html: folder {args.html.parent} does not exist")

    def sources():
        for source in args.sources:
            if source.startswith("s3://"):
                from deletion_alarms.archive import s3_objects

                yield from s3_objects(source, args.profile, args.region, args.endpoint_url, options.delivery_days())
            else:
                yield from bt.local_files([source])

    try:
        # Listed first: the progress bar shows the total and an ETA.
        files, not_in_window = bt.in_window(list(sources()), options)
        progress = bt.Progress(len(files))
        try:
            report = bt.run(iter(files), options, args.workers, progress)
        finally:
            progress.close()
        report.files_outside_window = not_in_window
        report.folders_not_listed = options.delivery_days() is not None and any(s.startswith("s3://") for s in args.sources)
    except FileNotFoundError as error:
        raise UserError(str(error)) from None
    if report.records == 0:  # never "0 matches" for a scan that read nothing
        failed = (f"; {plural(len(report.failed_files), 'file')} failed, e.g. {report.failed_files[0]}"
                  if report.failed_files else "")
        raise UserError(f"read no CloudTrail record from {', '.join(args.sources)} ({plural(report.files, 'file')}"
                        f"{failed}): nothing was backtested")
    show_backtest(args, report, options, ", ".join(args.sources))
    if report.failed_files:  # the report is whole for what was read; the run is not done
        raise UserError(f"{len(report.failed_files):,} of {plural(report.files, 'file')} could not be read (first: "
                        f"{report.failed_files[0]}): the report above leaves them out")
    return 0


def write_html(path: Path, page: Any) -> None:
    """Write ``page(generated)``, the page made now (UTC), to --html's path; one line when it cannot."""
    from datetime import datetime, timezone

    try:
        path.write_text(page(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    except OSError as error:
        raise UserError(f"--html: cannot write {path}: {error.strerror}") from None


def show_backtest(args: argparse.Namespace, report: Any, options: Any, source: str) -> None:
    """The report on stdout (text or JSON), and as HTML with --html: the same for both engines."""
    from deletion_alarms import backtest as bt
    from deletion_alarms import htmlreport

    print(json.dumps(report.to_dict(), indent=2) if args.format == "json" else bt.format_report(report, options))
    if args.html:
        write_html(args.html, lambda generated: htmlreport.render(report, options, source, generated))


def doctor(args: argparse.Namespace) -> int:
    from deletion_alarms.doctor import diagnose

    from deletion_alarms import awsclient

    session, logs, cfn, sns, events = aws_clients(args, "logs", "cloudformation", "sns", "events")
    cloudtrail_in = awsclient.regional_clients("cloudtrail", args.profile, args.endpoint_url)
    clients = {"cloudtrail_in": cloudtrail_in, "logs": logs, "cloudformation": cfn, "sns": sns, "events": events}
    findings = diagnose(clients, session.region_name, args.engine, args.log_group, args.stack_name,
                        collector_stack=args.collector_stack)
    for finding in findings:
        print(finding)
    return 1 if any(f.level == "problem" for f in findings) else 0


def drill(args: argparse.Namespace) -> int:
    from deletion_alarms import awsclient
    from deletion_alarms import drill as dr
    from deletion_alarms.awsclient import aws_errors

    session, cfn, kms, secrets, sqs, sns, cloudwatch, sts = aws_clients(
        args, "cloudformation", "kms", "secretsmanager", "sqs", "sns", "cloudwatch", "sts")
    collector_cfn = None
    if args.collector_stack:  # the observer lives in the collector's account and Region
        watcher = awsclient.make_session(args.collector_profile or args.profile,
                                         args.collector_region or args.region)
        collector_cfn, sqs, sns, cloudwatch = (awsclient.make_client(watcher, name, args.endpoint_url)
                                               for name in ("cloudformation", "sqs", "sns", "cloudwatch"))
    plan = dr.make_plan(cfn, args.stack_name, collector_cfn, args.collector_stack)
    print(dr.describe(plan, args.timeout))
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("the drill creates billed resources: confirm with --yes when not on a terminal")
        if input("Go on? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing done")
            return 1
    clients = {"kms": kms, "secretsmanager": secrets, "sqs": sqs, "sns": sns, "cloudwatch": cloudwatch}
    with aws_errors("caller identity"):
        account = sts.get_caller_identity()["Account"]
    record = dr.RunRecord.default(f"{account}/{session.region_name}/{args.stack_name}")
    run = dr.Drill(clients, plan, print, record=record)
    try:
        results = dr.run(clients, plan, args.timeout, record, drill=run)
    except KeyboardInterrupt:
        if run.left:
            raise Interrupted(f"the drill could not remove {len(run.left)} of its resources (listed "
                              "above); the next drill removes them") from None
        raise Interrupted("the drill removed everything it had created") from None
    for result in results:
        print(result.line())
    missing = [r for r in results if not r.delivered and not r.denied]
    denied = [r for r in results if r.denied]
    print(f"{len(results) - len(missing) - len(denied)} of {len(results)} alerts delivered"
          + (f"; {len(denied)} could not be triggered (permissions)" if denied else ""))
    return 1 if missing or denied else 0


def inventory(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    import boto3
    from tqdm import tqdm

    from deletion_alarms import awsclient
    from deletion_alarms import inventory as inv

    for account in args.account:
        if not (account.isdigit() and len(account) == 12):
            raise UsageError(f"--account {account!r} is not a 12-digit account ID")
    if (args.account or args.organization) and not args.role_name:
        raise UsageError("--account and --organization read other accounts through a role: give --role-name")
    if args.html and not args.html.parent.is_dir():  # before the work, not after it
        raise UsageError(f"--html: folder {args.html.parent} does not exist")
    regions = [r.strip() for r in (args.regions or "").split(",") if r.strip()]
    known = {r for p in boto3.Session().get_available_partitions() for r in boto3.Session().get_available_regions("kms", p)}
    unknown = [r for r in regions if r not in known and not args.endpoint_url]
    if unknown:
        raise UsageError(f"--regions: unknown Region {', '.join(unknown)}")
    session, sts = aws_clients(args, "sts")
    with awsclient.aws_errors("caller identity"):
        identity = sts.get_caller_identity()
    home, partition = identity["Account"], identity["Arn"].split(":")[1]
    accounts = list(dict.fromkeys(args.account))
    if args.organization:
        with awsclient.aws_errors("organization accounts"):
            organizations = awsclient.make_client(session, "organizations", args.endpoint_url)
            for page in organizations.get_paginator("list_accounts").paginate():
                accounts += [a["Id"] for a in page["Accounts"] if a.get("Status") == "ACTIVE" and a["Id"] not in accounts]
    sessions: dict[str, Any] = {}
    for account in accounts or [home]:
        if account == home:
            sessions[account] = session
            continue
        role = f"arn:{partition}:iam::{account}:role/{args.role_name}"
        with awsclient.aws_errors(f"assuming {role}"):
            creds = sts.assume_role(RoleArn=role, RoleSessionName="deletion-alarms-inventory")["Credentials"]
        sessions[account] = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                          aws_secret_access_key=creds["SecretAccessKey"],
                                          aws_session_token=creds["SessionToken"], region_name=session.region_name)
    tasks = []
    for account, account_session in sessions.items():
        account_regions = regions
        if not account_regions:
            with awsclient.aws_errors(f"enabled Regions of {account}"):
                ec2 = awsclient.make_client(account_session, "ec2", args.endpoint_url)
                account_regions = sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])
        for region in account_regions:
            regional = _regional(account_session, region)

            def clients(service: str, regional: Any = regional) -> Any:
                return awsclient.make_client(regional, service, args.endpoint_url, adaptive=True)
            tasks.append((account, region, clients))
    bar = tqdm(total=len(tasks), unit="Region", file=sys.stderr, disable=not sys.stderr.isatty(),
               desc=plural(len(sessions), "account"))
    notes: list[str] = []
    try:
        found = inv.collect(tasks, datetime.now(timezone.utc), args.workers, lambda: bar.update(1), notes)
    finally:
        bar.close()
    print(inv.render(found, args.format))
    for note in sorted(notes):
        print(f"deletion-alarms: {note}", file=sys.stderr)
    if args.html:
        from deletion_alarms import htmlreport

        scope = f"{plural(len(sessions), 'account')}: {', '.join(sessions)}; Regions: {', '.join(regions) or 'every enabled one'}"
        write_html(args.html, lambda generated: htmlreport.inventory_page(found, scope, generated, args.fail_within))
    soon = [p for p in found if args.fail_within is not None and p.within(args.fail_within)]
    for p in soon:  # what made the run fail, on stderr where CI and cron show it
        print(f"deletion-alarms: {p.kind} {p.name or p.arn} in {p.account} {p.region} is deleted in "
              f"{p.days_left:.1f} days (--fail-within {args.fail_within}): {p.arn}", file=sys.stderr)
    return 1 if soon else 0


def _regional(session: Any, region: str) -> Any:
    """The same credentials in another Region."""
    import boto3

    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials else None
    if frozen is None:
        return boto3.Session(profile_name=session.profile_name if session.profile_name != "default" else None,
                             region_name=region)
    return boto3.Session(aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                         aws_session_token=frozen.token, region_name=region)


def add_dist_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dist", type=Path, default=None,
                        help="folder of built templates (default: the templates the command carries, "
                        "equal to dist/ of its release)")


def athena_backtest(args: argparse.Namespace, options: Any) -> Any:
    """backtest --athena: the table, the estimate and its confirmation, the one query."""
    from deletion_alarms import athena_backtest as ab
    from detections.athena import check_scope, trail_prefix

    missing = [o for o, v in (("--trail-bucket", args.trail_bucket), ("--accounts", args.accounts),
                              ("--regions", args.regions), ("--start", args.start), ("--end", args.end)) if not v]
    if missing:
        raise UsageError(f"--athena needs {', '.join(missing)}")
    if args.html and not args.html.parent.is_dir():
        raise UsageError(f"--html: folder {args.html.parent} does not exist")
    if args.athena_output and not args.athena_output.startswith("s3://"):
        raise UsageError(f"--athena-output {args.athena_output!r} is not an s3:// location")
    target = ab.AthenaTarget(
        args.athena_table, args.athena_database, args.athena_workgroup, args.athena_output,
        trail_prefix(args.trail_bucket, args.trail_prefix, args.organization_id),
        tuple(a.strip() for a in args.accounts.split(",") if a.strip()),
        tuple(r.strip() for r in args.regions.split(",") if r.strip()), args.late_days)
    check_scope(target.accounts, target.regions)
    _, athena, s3 = aws_clients(args, "athena", "s3")

    def ask(question: str) -> bool:
        print(question, file=sys.stderr)
        confirm(args.yes, "backtest --athena")
        return True

    from tqdm import tqdm

    bar = tqdm(unit="B", unit_scale=True, desc="Athena scanned", file=sys.stderr, disable=not sys.stderr.isatty())
    try:
        return ab.backtest(athena, s3, target, options, ab.PROJECTION_START if args.create_table else None, ask,
                           lambda scanned: bar.update(scanned - bar.n))
    finally:
        bar.close()


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: the usual AWS sources)")
    parser.add_argument("--region", help="AWS Region (default: from the profile or AWS_REGION)")
    parser.add_argument("--endpoint-url", help=argparse.SUPPRESS)  # tests and emulators


def test_patterns(args: argparse.Namespace) -> int:
    from detections.catalog import DETECTIONS
    from detections.patterntest import format_matrix, load_samples, local_verdicts

    from deletion_alarms.bundled import folder

    corpus = folder("corpus", args.corpus, "--corpus")
    try:
        samples = load_samples(corpus)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"cannot read the corpus in {corpus}: {error}") from None
    verdicts = local_verdicts(samples, DETECTIONS)
    print(format_matrix(verdicts))
    failed = any(not v.ok for v in verdicts)
    if args.live:
        from deletion_alarms import awsclient, live

        session = awsclient.make_session(args.profile, args.region)
        logs = awsclient.make_client(session, "logs", args.endpoint_url)
        with awsclient.aws_errors("checking credentials before the live test"):  # one call, not one per record
            awsclient.make_client(session, "sts", args.endpoint_url).get_caller_identity()
        disagreements = live.compare_with_aws(logs, samples, DETECTIONS)
        for d in disagreements:
            print(f"AWS differs: {d.detection} on {d.cls}: ours {d.ours}, AWS {d.aws}")
        print(f"live: {len(samples)} records x {len(DETECTIONS)} patterns sent to TestMetricFilter; "
              f"{len(disagreements)} disagreements")
        failed = failed or bool(disagreements)
    return 1 if failed else 0


# Exit statuses, the same for every subcommand (README, The command).
EXIT_FAILED = 1  # the operation failed, or found a problem (a missing alert, a mismatch)
EXIT_USAGE = 2  # the command line or a value in it is wrong
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # the reader of the output went away (128 + SIGPIPE)


class Interrupted(Exception):
    """Ctrl-C, with a line saying what was cleaned up or left."""


def one_line(text: str, limit: int = 400) -> str:
    """Text as one terminal-safe line: control characters and line breaks become spaces."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run one operation. Every failure ends here as one line on stderr and a documented status:
    no traceback, whatever happened."""
    import botocore.exceptions
    import botocore.parsers

    from deletion_alarms.awsclient import explain

    parser = make_parser(prog)
    args = parser.parse_args(argv)
    commands = {"test-patterns": test_patterns, "publish": publish, "service-catalog": service_catalog,
                "stackset": stackset, "doctor": doctor, "drill": drill, "backtest": backtest,
                "inventory": inventory}

    def fail(status: int, message: str) -> int:
        print(f"{prog}: {one_line(message)}", file=sys.stderr)
        return status

    try:
        status = commands[args.command](args)
        sys.stdout.flush()  # a broken pipe shows here, not at exit
        return status
    except UsageError as error:
        return fail(EXIT_USAGE, f"error: {error}")
    except UserError as error:
        return fail(EXIT_FAILED, f"error: {error}")
    except botocore.exceptions.ParamValidationError as error:
        return fail(EXIT_USAGE, f"error: {explain(error)}")
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
            botocore.parsers.ResponseParserError) as error:
        return fail(EXIT_FAILED, f"error: {explain(error)}")
    except Interrupted as error:
        return fail(EXIT_INTERRUPTED, f"interrupted: {error}")
    except KeyboardInterrupt:
        return fail(EXIT_INTERRUPTED, "interrupted: nothing was left behind")
    except BrokenPipeError:
        # Python's advice: point stdout at devnull, so that the flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as error:
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        return fail(EXIT_FAILED, f"error:{where} {error.strerror or error}")


def entry_point() -> None:
    """Console script entry (``[project.scripts]``)."""
    sys.exit(main())
