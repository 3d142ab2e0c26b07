"""Fixed monthly cost of a deployment, per account and Region, by configuration.

Prices are AWS's us-east-1 list prices in USD (other Regions differ a little). Only what a stack
costs by existing is counted; per-event charges are nil for these volumes (EventBridge rules on AWS
service events are free, the first 1,000 SNS emails a month are free, metric filters are free).
"""

from __future__ import annotations

from dataclasses import dataclass

from detections.catalog import DETECTION_MODES, DETECTIONS, Kind
from stacks.parameters import ENGINES

PRICE_ALARM_METRIC = 0.10  # standard-resolution alarm, per metric it evaluates, per month
PRICE_CUSTOM_METRIC = 0.30  # per metric per month (a metric filter publishes one)
PRICE_KMS_KEY = 1.00  # customer managed key, per month (TopicEncryption CreateKey)
PRICE_CROSS_ACCOUNT_EVENTS_PER_MILLION = 1.00  # events delivered to another account's or Region's bus
GOAL_USD = 0.30  # fixed, per account and Region, without a key of its own (issue 19)
FREE_SQS_REQUESTS_PER_MONTH = 1_000_000  # per account, all Regions together
REGIONS_EXAMPLE = 17
PRICE_SQS_REQUESTS_PER_MILLION = 0.40  # standard queue; the first million a month per account is free
# The notifier's event source mapping polls the empty queue: Lambda starts with five pollers, each a
# 20-second long poll (AWS Compute Blog on SQS polling scale-up; the Lambda guide gives no figure,
# so this is UNCONFIRMED and measured nowhere here). 5 x 3 a minute x 43,200 minutes = 648,000.
IDLE_POLLERS = 5
LONG_POLL_SECONDS = 20
IDLE_SQS_REQUESTS_PER_MONTH = IDLE_POLLERS * (30 * 86_400 // LONG_POLL_SECONDS)
# The daily reminder (ReminderDays): ListKeys, ListAliases and one DescribeKey per key each day.
PRICE_KMS_REQUESTS_PER_10K = 0.03
FREE_KMS_REQUESTS_PER_MONTH = 20_000  # per account, all Regions together
REMINDER_KEYS_EXAMPLE = 1_000
ALERT_READS_PER_EMAIL = 10  # functions/notifier.py: MAX_DETAILS rows, DescribeKey and ListAliases each
# Secrets Manager bills every API call (its pricing page: 0.05 USD per 10,000), ListSecrets included.
PRICE_SECRETS_REQUESTS_PER_10K = 0.05
REMINDER_SECRETS_EXAMPLE = 1_000
# The blast radius an alert reads (functions/notifier.py USE_PAGES, SECRET_PAGES; a test holds them equal):
# event history pages of 50 (LookupEvents: free, 2 requests a second) and ListSecrets pages of 100.
ALERT_HISTORY_PAGES = 6
ALERT_SECRET_PAGES = 10
LOOKUP_EVENTS_PER_SECOND = 2


@dataclass(frozen=True)
class Estimate:
    engine: str
    mode: str
    alarms: int
    alarm_metrics: int
    """What alarms are billed by: one per metric each evaluates (the notifier's failure alarm adds two)."""
    custom_metrics: int
    rules: int
    kms_keys: int
    sqs_requests: int = 0
    """The notifier's idle polling, per month; free within the account's first million."""

    @property
    def polling_usd(self) -> float:
        return round(self.sqs_requests / 1e6 * PRICE_SQS_REQUESTS_PER_MILLION, 2)

    @property
    def monthly_usd(self) -> float:
        return round(self.alarm_metrics * PRICE_ALARM_METRIC + self.custom_metrics * PRICE_CUSTOM_METRIC
                     + self.kms_keys * PRICE_KMS_KEY + self.polling_usd, 2)


def estimate(engine: str, mode: str, kms: bool = True, secrets: bool = True,
             recovery: bool = True, topic_key: bool = True, forwarding: bool = False,
             reminders: bool = True) -> Estimate:
    """What a stack with these parameter values creates that costs money. A forwarding workload
    (CollectorEventBusArn) has only its rules, a role and a dead-letter queue: no alarm, no key.
    With a notifier, ``reminders`` (ReminderDays not none) adds its daily scheduled rule."""
    if engine not in ENGINES:
        raise ValueError(f"DetectionEngine {engine!r} is not one of: {', '.join(ENGINES)}")
    if forwarding:
        rules = estimate(engine, mode, kms, secrets, recovery, reminders=False).rules
        return Estimate(engine, mode, 0, 0, 0, rules, 0)
    kinds = DETECTION_MODES[mode] | ({Kind.RECOVERY} if recovery else set())
    services = ({"kms"} if kms else set()) | ({"secretsmanager"} if secrets else set())
    selected = [d for d in DETECTIONS if d.kind in kinds and d.service.value in services]
    alarmed = [d for d in selected if d.metric_alarm] if engine != "EventBridge" else []
    rules = selected if engine != "CloudWatchLogs" else []
    # With rules: the notifier, and four alarms on its path: backlog age, dead-letter queue depth and
    # events lost by EventBridge (one metric each; the last a Metrics Insights query, billed here as one
    # metric although AWS bills the series it analyzes, none while nothing is lost), and the notifier
    # failing (metric math over two metrics).
    delivery = 4 if rules else 0
    delivery_metrics = 5 if rules else 0
    reminder = 1 if rules and reminders else 0
    return Estimate(engine, mode, len(alarmed) + delivery, len(alarmed) + delivery_metrics, len(alarmed),
                    len(rules) + reminder, 1 if topic_key else 0, IDLE_SQS_REQUESTS_PER_MONTH if rules else 0)


def reminder_kms_usd(keys: int) -> float:
    """A month of daily reminder checks in an account with ``keys`` KMS keys (one Region)."""
    requests = 30 * (keys + 2)
    return round(max(0, requests - FREE_KMS_REQUESTS_PER_MONTH) / 10_000 * PRICE_KMS_REQUESTS_PER_10K, 2)


def cost_table() -> str:
    """Markdown table: monthly cost per engine and mode, both services watched, with the topic
    key created here (CreateKey) and without one (ExistingKey, Disabled or an existing topic)."""
    rows = ["| DetectionEngine | DetectionMode | Alarms (alarm metrics) | Custom metrics | Rules "
            "| Idle SQS requests (USD) | USD per month, CreateKey | without a key of its own "
            "| without a key, polling in the free tier |",
            "|---|---|---|---|---|---|---|---|---|"]
    for engine in ENGINES:
        for mode in DETECTION_MODES:
            e = estimate(engine, mode)
            bare = estimate(engine, mode, topic_key=False)
            rows.append(f"| `{engine}` | `{mode}` | {e.alarms} ({e.alarm_metrics}) | {e.custom_metrics} | {e.rules} "
                        f"| {e.sqs_requests:,} ({e.polling_usd:.2f}) | {e.monthly_usd:.2f} | {bare.monthly_usd:.2f} "
                        f"| {bare.monthly_usd - bare.polling_usd:.2f} |")
    for mode in DETECTION_MODES:
        e = estimate("EventBridge", mode, forwarding=True)
        rows.append(f"| `EventBridge`, forwarding to a collector | `{mode}` | 0 (0) | 0 | {e.rules} | 0 (0.00) "
                    f"| {e.monthly_usd:.2f} | {e.monthly_usd:.2f} | {e.monthly_usd:.2f} |")
    rows.append("")
    rows.append(f"Idle SQS requests: the notifier's event source mapping long-polls the empty event queue, "
                f"about {IDLE_SQS_REQUESTS_PER_MONTH:,} requests a month ({IDLE_POLLERS} pollers, "
                f"{LONG_POLL_SECONDS}-second polls; UNCONFIRMED: AWS publishes no figure), at "
                f"{PRICE_SQS_REQUESTS_PER_MILLION:.2f} USD per million beyond the first million an account "
                "gets free each month (one Region's polling fits in it). Lambda, DynamoDB and CloudWatch "
                "Logs cost nothing while no event arrives.")
    rows.append(f"Forwarding: each event sent to the collector's bus, in another account or Region, is billed "
                f"as a custom event, {PRICE_CROSS_ACCOUNT_EVENTS_PER_MILLION:.2f} USD per million. The collector "
                "costs what one `EventBridge` stack costs, once for the organization.")
    rows.append(f"Reminders (`ReminderDays`, with a notifier): a scheduled rule and one function run a day; its "
                f"KMS requests, {30 * (REMINDER_KEYS_EXAMPLE + 2):,} a month with {REMINDER_KEYS_EXAMPLE:,} keys, "
                f"cost {reminder_kms_usd(REMINDER_KEYS_EXAMPLE):.2f} USD beyond the {FREE_KMS_REQUESTS_PER_MONTH:,} "
                f"an account gets free ({PRICE_KMS_REQUESTS_PER_10K:.2f} USD per 10,000); LookupEvents is free; "
                f"ListSecrets, one request per 100 secrets a day, {30 * REMINDER_SECRETS_EXAMPLE // 100:,} a month "
                f"with {REMINDER_SECRETS_EXAMPLE:,} secrets, costs "
                f"{30 * REMINDER_SECRETS_EXAMPLE // 100 / 10_000 * PRICE_SECRETS_REQUESTS_PER_10K:.4f} USD "
                f"({PRICE_SECRETS_REQUESTS_PER_10K:.2f} USD per 10,000, no free tier).")
    rows.append(f"Each alert email: the notifier reads what it names, at most {ALERT_READS_PER_EMAIL} KMS "
                "requests (DescribeKey and ListAliases for up to 5 keys described; Secrets Manager "
                "DescribeSecret for secrets), "
                f"{ALERT_READS_PER_EMAIL / 10_000 * PRICE_KMS_REQUESTS_PER_10K:.6f} USD beyond the free tier, and "
                "a few hundred milliseconds. For a key scheduled for deletion or disabled, or a secret scheduled "
                f"for deletion, who used it: at most {ALERT_HISTORY_PAGES} pages of CloudTrail event history "
                f"(LookupEvents, free; {LOOKUP_EVENTS_PER_SECOND} requests a second per account and Region: "
                f"{ALERT_HISTORY_PAGES / LOOKUP_EVENTS_PER_SECOND:.0f} seconds at most); for a key, the secrets "
                f"encrypted under it: at most {ALERT_SECRET_PAGES} ListSecrets requests, "
                f"{ALERT_SECRET_PAGES / 10_000 * PRICE_SECRETS_REQUESTS_PER_10K:.5f} USD. With "
                "`SecurityHubFindings`, one BatchImportFindings call per alert (free as a call; Security Hub "
                "bills finding ingestion beyond a monthly free allowance, per its pricing page: UNCONFIRMED "
                "here). Its failure alarm's "
                "`FailedEntries` metric exists only in the hours "
                f"it is written (custom metrics are billed by the hour, {PRICE_CUSTOM_METRIC:.2f} USD a month "
                "each): nothing while the notifier works.")
    rows.append(many_regions_note())
    return "\n".join(rows)


def many_regions_usd(regions: int, home_region: bool) -> float:
    """Fixed monthly cost of one account watching ``regions`` Regions with the EventBridge engine,
    without a key of its own: a notifier in every Region, or (``home_region``) a collector of the
    account's own in one Region and forwarding workloads in the others."""
    bare = estimate("EventBridge", "AccessAndDeletion", topic_key=False)
    notifiers = 1 if home_region else regions
    requests = max(0, notifiers * bare.sqs_requests - FREE_SQS_REQUESTS_PER_MONTH)
    return round(notifiers * (bare.monthly_usd - bare.polling_usd)
                 + requests / 1e6 * PRICE_SQS_REQUESTS_PER_MILLION, 2)


def many_regions_note() -> str:
    n = REGIONS_EXAMPLE
    each, home = many_regions_usd(n, False) / n, many_regions_usd(n, True) / n
    return (f"Goal: at most {GOAL_USD:.2f} USD a month fixed per account and Region without a key. One account "
            f"watching {n} Regions pays {many_regions_usd(n, False):.2f} USD a month with a notifier in each "
            f"({each:.2f} per Region: {'met' if each <= GOAL_USD else 'NOT met'}), or "
            f"{many_regions_usd(n, True):.2f} ({home:.2f} per Region: {'met' if home <= GOAL_USD else 'NOT met'}) "
            "with a collector of its own in one home Region (`OrganizationId` empty) and the workload in "
            "every Region forwarding to it (`CollectorEventBusArn`). One Region alone pays the "
            f"`EventBridge` row: {many_regions_usd(1, False):.2f} USD while its polling fits in the free tier "
            f"({'met' if many_regions_usd(1, False) <= GOAL_USD else 'NOT met'}: four alarms on the alert path "
            "are five alarm metrics).")
