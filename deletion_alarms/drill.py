"""Fire drill: prove in an account that a deployed stack alerts, and measure the time to alert.

In one account and Region, against a deployed workload stack that alerts there, the drill
1. subscribes a queue of its own to the stack's alert topic, to see what the team would receive;
2. creates a throwaway symmetric KMS key and a secret, named and tagged as drill resources, and
   triggers every deployed detection for real: schedules the key's deletion and uses the key, deletes
   the secret with a recovery window and reads it, then cancels and restores (recovery notices);
3. waits for each expected notification and reports, per detection, whether it arrived, named the
   drill's key or secret (and gave the undo command), and the seconds from the API call to it;
4. cleans up whatever happened: the key is scheduled for deletion with the shortest window the
   account's guardrails allow, the secret deleted likewise, the subscription and queue removed; a
   later run removes the leftovers of an interrupted one, as recorded in this machine's run record
   (never by a tag alone, which anyone with tag permissions can set).

What it waits for follows the stack's parameters. The EventBridge engine alerts through the
notifier: one digest per detection, carrying the message attributes ``detection`` and
``resource``; the drill accepts a digest only when its text names the drill's key or secret (and,
where the detection has one, on the undo line), so a notification that arrives but names something
else counts as missing. Metric filters feed CloudWatch alarms, whose notifications carry a count and
no resource: for them the drill can check arrival only (``STACK-<Detection>``), and an alarm already
in ALARM sends nothing new, so the drill names it rather than wait. For a stack that forwards to a
collector, the queue subscribes to the collector's topic (with the collector account's
credentials): the drill then measures the whole way, through the collector's bus and notifier.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from deletion_alarms.awsclient import aws_errors, describe_stack
from detections.catalog import Detection, Service, detections_for_mode
from detections.messages import undo_commands
from detections.errors import UserError

DRILL_TAG = "deletion-alarms:drill"
NAME_PREFIX = "deletion-alarms-drill-"
PROGRESS_EVERY_SECONDS = 30
# What the drill triggers (Drill.trigger). The immediate losses are not drilled: they need imported
# key material, a custom key store or a replica Region, and would destroy them; the corpus and
# the backtest prove those detections.
DRILLED = frozenset({"KmsKeyDisableOrDeletion", "KmsKeyPendingDeletionUse", "SecretDeletion",
                     "SecretPendingDeletionUse", "KmsKeyDeletionCancelled", "SecretRestored",
                     "KmsKeyPolicyLockoutRisk", "KmsKeyUnusableUse"})
# KmsKeyUnusableUse is drilled with a second key created for import (Origin EXTERNAL) into which no
# material is ever imported: it stays PendingImport, and an Encrypt with it is refused "is pending
# import." (KMS developer guide, key states). Nothing of anyone's is touched.
UNUSABLE = "KmsKeyUnusableUse"
WINDOWS_DAYS = (7, 30)  # the shortest first; a guardrail SCP may allow only 30
COST = ("two KMS keys (1 USD a month each, prorated by the hour, until their deletion completes in 7 to 30 "
        "days; the second is created for imported material and never gets any) and one secret (0.40 USD a "
        "month, prorated, until deleted); API calls cost less than a cent")
Say = Callable[[str], None]


NOTIFIER = "notifier"  # the EventBridge engine's path
ALARM = "alarm"  # a metric filter's alarm


@dataclass(frozen=True)
class Expectation:
    """One notification the drill waits for: a notifier digest, or a metric filter's alarm."""

    detection: Detection
    path: str
    alarm_name: str = ""

    @property
    def label(self) -> str:
        return self.alarm_name or f"{self.path} digest"


@dataclass(frozen=True)
class Plan:
    """What a stack's parameters say the drill should see."""

    stack_name: str
    topic_arn: str
    expectations: tuple[Expectation, ...]


@dataclass
class Result:
    expectation: Expectation
    triggered_at: float | None = None
    delivered_at: float | None = None
    note: str = ""
    denied: str = ""
    """Why the drill could not trigger it: a permission problem, not a missing alert."""

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None

    def line(self) -> str:
        name = f"{self.expectation.detection.name:<26} {self.expectation.label:<36}"
        if self.denied:
            return f"DENIED     {name}  {self.denied}"
        if self.delivered and self.triggered_at is not None:
            return f"delivered  {name}  {self.delivered_at - self.triggered_at:7.1f} s"
        return f"MISSING    {name}  {self.note}".rstrip()


def _topic(stack: dict, stack_name: str) -> str:
    topic = next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == "AlertTopicArn"), None)
    if not topic:
        raise UserError(f"stack {stack_name} has no AlertTopicArn output: is it a deletion-alarms stack?")
    return topic


def make_plan(cfn: Any, stack_name: str, collector_cfn: Any = None, collector_stack: str | None = None) -> Plan:
    """Read the deployed stack: its topic, and the notifications its parameters deploy. A stack that
    forwards to a collector is watched at the collector (its stack in its account): its topic,
    notifier and alarms, named after the collector stack."""
    stack = describe_stack(cfn, stack_name)
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    alarm_prefix = stack_name
    if params.get("CollectorEventBusArn"):
        if collector_cfn is None or not collector_stack:
            raise UserError(f"stack {stack_name} forwards to {params['CollectorEventBusArn']}: give "
                            "--collector-stack (and --collector-profile / --collector-region for its account) "
                            "so that the drill watches the collector's topic")
        topic = _topic(describe_stack(collector_cfn, collector_stack), collector_stack)
        alarm_prefix = collector_stack
    else:
        topic = _topic(stack, stack_name)
    services = {Service.KMS: params.get("KmsKeyMonitoring", "Enabled") == "Enabled",
                Service.SECRETS_MANAGER: params.get("SecretMonitoring", "Enabled") == "Enabled"}
    engine = params.get("DetectionEngine", "EventBridge")
    selected = detections_for_mode(params.get("DetectionMode", "AccessAndDeletion"),
                                   recovery=params.get("RecoveryNotices", "Enabled") == "Enabled")
    expectations = []
    for d in (d for d in selected if services[d.service] and d.name in DRILLED):
        if engine in ("EventBridge", "Both"):
            expectations.append(Expectation(d, NOTIFIER))
        if engine in ("CloudWatchLogs", "Both") and d.metric_alarm:
            expectations.append(Expectation(d, ALARM, f"{alarm_prefix}-{d.name}"))
    return Plan(stack_name, topic, tuple(expectations))


def describe(plan: Plan, timeout: float | None = None) -> str:
    """What the drill will create and what it costs, for the confirmation prompt."""
    lines = [f"The drill will, in this account and Region, against stack {plan.stack_name}:",
             f"  subscribe a temporary SQS queue ({NAME_PREFIX}...) to {plan.topic_arn}",
             f"  create {COST}",
             "  schedule the key's deletion, use it (and the key without material), delete the secret,",
             "  read it, cancel and restore,",
             "  then delete both with the shortest window the guardrails allow, and remove the queue.",
             "Your team receives these alerts too. It expects:"]
    lines += [f"  {e.detection.name} ({e.label})" for e in plan.expectations]
    if timeout is not None:
        lines.append(f"It waits up to {timeout:.0f} s for them, showing what it still waits for.")
    return "\n".join(lines)


@dataclass
class Drill:
    """One drill run. ``clients``: kms, secretsmanager, sqs, sns, cloudwatch (boto3 clients)."""

    clients: dict[str, Any]
    plan: Plan
    say: Say = print
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: dict[str, str] = field(default_factory=dict)
    record: "RunRecord | None" = None
    denied: dict[str, str] = field(default_factory=dict)
    """Detection name -> the call a guardrail or a policy denied, so it was never triggered."""
    left: list[str] = field(default_factory=list)
    """What the last cleanup could not remove."""

    def remember(self, what: str, value: str) -> None:
        """Note a created resource, in memory and in the run record, before anything else happens."""
        self.created[what] = value
        if self.record is not None:
            self.record.save(self.run_id, self.created)

    @property
    def tags(self) -> dict[str, str]:
        return {DRILL_TAG: self.run_id}

    # -------------------------------------------------------------------------------- observer
    def observe(self) -> None:
        """A queue of the drill's own, subscribed to the alert topic."""
        sqs, sns = self.clients["sqs"], self.clients["sns"]
        name = f"{NAME_PREFIX}{self.run_id}"
        with aws_errors("drill queue"):
            url = sqs.create_queue(QueueName=name, Attributes={"SqsManagedSseEnabled": "true"},
                                   tags=self.tags)["QueueUrl"]
            self.remember("queue_url", url)
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={
                "Policy": json.dumps(observer_queue_policy(arn, self.plan.topic_arn))})
            subscription = sns.subscribe(TopicArn=self.plan.topic_arn, Protocol="sqs", Endpoint=arn,
                                         ReturnSubscriptionArn=True)["SubscriptionArn"]
            self.remember("subscription_arn", subscription)

    def alarms_already_in_alarm(self) -> set[str]:
        names = [e.alarm_name for e in self.plan.expectations if e.alarm_name]
        found: set[str] = set()
        with aws_errors("alarms"):
            for i in range(0, len(names), 100):
                page = self.clients["cloudwatch"].describe_alarms(AlarmNames=names[i:i + 100])
                found |= {a["AlarmName"] for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
                          if a.get("StateValue") == "ALARM"}
        return found

    # ------------------------------------------------------------------------------ resources
    def create_resources(self) -> None:
        kms, secrets = self.clients["kms"], self.clients["secretsmanager"]
        with aws_errors("drill key"):
            key = kms.create_key(Description=f"deletion-alarms drill {self.run_id}: throwaway, safe to delete",
                                 KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT",
                                 Tags=[{"TagKey": k, "TagValue": v} for k, v in self.tags.items()])
            self.remember("key_id", key["KeyMetadata"]["KeyId"])
        if any(e.detection.name == UNUSABLE for e in self.plan.expectations):
            with aws_errors("drill key without key material"):
                key = kms.create_key(Description=f"deletion-alarms drill {self.run_id}: no key material, throwaway, "
                                                 "safe to delete", Origin="EXTERNAL", KeySpec="SYMMETRIC_DEFAULT",
                                     KeyUsage="ENCRYPT_DECRYPT",
                                     Tags=[{"TagKey": k, "TagValue": v} for k, v in self.tags.items()])
                self.remember("material_key_id", key["KeyMetadata"]["KeyId"])
        with aws_errors("drill secret"):
            secret = secrets.create_secret(Name=f"{NAME_PREFIX}{self.run_id}", SecretString="drill",
                                           Description="deletion-alarms drill: throwaway, safe to delete",
                                           Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])
            self.remember("secret_arn", secret["ARN"])

    def trigger(self) -> dict[str, float]:
        """Call what each detection watches; the time of each call, by detection name."""
        kms, secrets = self.clients["kms"], self.clients["secretsmanager"]
        key, secret = self.created["key_id"], self.created["secret_arn"]
        times: dict[str, float] = {}

        def expect_failure(name: str, what: str, call: Callable[[], Any]) -> None:
            times[name] = self.clock()
            try:
                call()
            except Exception as error:  # noqa: BLE001 - the failure is the point: it is what the rule sees
                if error_code(error) in ACCESS_DENIED:
                    self.denied[name] = f"{what} was denied ({error_code(error)}): a permission problem, not a test"
                return
            self.say(f"note: {name}: the call did not fail as the drill expects")

        if "material_key_id" in self.created:
            expect_failure(UNUSABLE, "kms:Encrypt",
                           lambda: kms.encrypt(KeyId=self.created["material_key_id"], Plaintext=b"drill"))

        # The key's own policy set again, with the lockout safety check bypassed: the same principals
        # keep the same access, so nothing can be locked out; only the flag is what the rule sees.
        times["KmsKeyPolicyLockoutRisk"] = self.clock()
        try:
            policy = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy, BypassPolicyLockoutSafetyCheck=True)
        except Exception as error:  # noqa: BLE001 - a refusal is reported as DENIED, not as a missing alert
            if error_code(error) not in ACCESS_DENIED:
                raise
            self.denied["KmsKeyPolicyLockoutRisk"] = (f"kms:PutKeyPolicy was denied ({error_code(error)}): a "
                                                      "permission problem, not a test")
        times["KmsKeyDisableOrDeletion"] = self.clock()
        with_shortest_window(lambda d: kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=d),
                             "schedule the drill key's deletion", self.say)
        expect_failure("KmsKeyPendingDeletionUse", "kms:Encrypt", lambda: kms.encrypt(KeyId=key, Plaintext=b"drill"))
        times["SecretDeletion"] = self.clock()
        with_shortest_window(lambda d: secrets.delete_secret(SecretId=secret, RecoveryWindowInDays=d),
                             "delete the drill secret", self.say)
        expect_failure("SecretPendingDeletionUse", "secretsmanager:GetSecretValue",
                       lambda: secrets.get_secret_value(SecretId=secret))
        times["KmsKeyDeletionCancelled"] = self.clock()
        with aws_errors("cancel the drill key's deletion"):
            kms.cancel_key_deletion(KeyId=key)
        times["SecretRestored"] = self.clock()
        with aws_errors("restore the drill secret"):
            secrets.restore_secret(SecretId=secret)
        return times

    # -------------------------------------------------------------------------------- waiting
    def resource(self, detection: Detection) -> str:
        """What a notification about ``detection`` must name: the drill key's ID (part of its ARN
        too) or the drill secret's ARN."""
        if detection.name == UNUSABLE:
            return self.created["material_key_id"]
        return self.created["key_id"] if detection.service is Service.KMS else self.created["secret_arn"]

    def wait(self, triggered: dict[str, float], timeout: float, poll: float = 5) -> list[Result]:
        """Read the drill queue until every expected notification arrived or ``timeout``."""
        results = {(e.alarm_name or e.detection.name, e.path): Result(e, triggered.get(e.detection.name))
                   for e in self.plan.expectations}
        busy = self.alarms_already_in_alarm()
        for result in results.values():
            if result.expectation.alarm_name in busy:
                result.note = "already in ALARM before the drill: no new notification to see"
            if result.expectation.detection.name in self.denied:
                result.denied = result.note = self.denied[result.expectation.detection.name]
        elsewhere: dict[tuple[str, str], int] = {}  # digests that named another key or secret
        deadline = self.clock() + timeout
        sqs, url = self.clients["sqs"], self.created["queue_url"]
        started, shown = deadline - timeout, 0.0
        while any(not r.delivered and not r.note for r in results.values()):
            now = self.clock()
            if now >= deadline:
                break
            elapsed = now - started
            if elapsed - shown >= PROGRESS_EVERY_SECONDS:
                shown = elapsed
                waiting = sorted({r.expectation.detection.name for r in results.values()
                                  if not r.delivered and not r.note})
                self.say(f"{elapsed:4.0f} s of {timeout:.0f}: waiting for {len(waiting)}: {', '.join(waiting)}")
            with aws_errors("drill queue"):
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                               AttributeNames=["All"]).get("Messages", [])
            for message in messages:
                seen = read_notification(message["Body"])
                if seen and seen.key in results and not results[seen.key].delivered:
                    result, detection = results[seen.key], results[seen.key].expectation.detection
                    if seen.key[1] == ALARM or names_resource(seen.text, self.resource(detection),
                                                              undo=bool(undo_commands(detection))):
                        result.delivered_at = seen.at if seen.at is not None else self.clock()
                    else:
                        elsewhere[seen.key] = elsewhere.get(seen.key, 0) + 1
                with aws_errors("drill queue"):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not messages:
                self.sleep(poll)
        for key, result in results.items():
            if result.delivered or result.note:
                continue
            result.note = f"no notification within {timeout:.0f} s"
            if key in elsewhere:
                result.note += (f" naming {self.resource(result.expectation.detection)}: "
                                f"{elsewhere[key]} arrived naming something else")
        return list(results.values())

    # -------------------------------------------------------------------------------- cleanup
    def cleanup(self) -> list[str]:
        """Remove what this run created, whatever happened; what could not be removed, as text."""
        left: list[str] = []
        kms, secrets, sqs, sns = (self.clients[k] for k in ("kms", "secretsmanager", "sqs", "sns"))
        steps: list[tuple[str, Callable[[], Any]]] = []
        if "subscription_arn" in self.created:
            steps.append(("drill subscription", lambda: sns.unsubscribe(SubscriptionArn=self.created["subscription_arn"])))
        if "queue_url" in self.created:
            steps.append(("drill queue", lambda: sqs.delete_queue(QueueUrl=self.created["queue_url"])))
        if "key_id" in self.created:
            steps.append(("drill key", lambda: delete_key(kms, self.created["key_id"], self.say)))
        if "material_key_id" in self.created:
            steps.append(("drill key without key material",
                          lambda: delete_key(kms, self.created["material_key_id"], self.say)))
        if "secret_arn" in self.created:
            steps.append(("drill secret", lambda: delete_secret(secrets, self.created["secret_arn"], self.say)))
        for what, step in steps:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - report and go on with the next one
                if error_code(error) not in GONE:  # already removed: done
                    left.append(f"{what}: {error}")
        if self.record is not None and not left:
            self.record.forget(self.run_id)
        return left


def observer_queue_policy(queue_arn: str, topic_arn: str) -> dict:
    """SNS delivers to an SQS subscriber as sns.amazonaws.com with the topic as aws:SourceArn
    (SNS developer guide, sending messages to an SQS queue in the same account:
    https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}


@dataclass(frozen=True)
class Seen:
    """A notification read from the drill queue: which expectation it answers (detection or alarm
    name, and path), its text and time."""

    key: tuple[str, str]
    text: str
    at: float | None


def read_notification(body: str) -> Seen | None:
    """An SNS notification delivered to SQS (not raw): a notifier digest (message attribute
    ``detection``) or a CloudWatch alarm turning to ALARM (its JSON message names the alarm)."""
    try:
        envelope = json.loads(body)
        message = envelope["Message"]
    except (ValueError, KeyError, TypeError):
        return None
    stamp = envelope.get("Timestamp")
    try:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() if stamp else None
    except (ValueError, AttributeError):
        at = None
    detection = (envelope.get("MessageAttributes") or {}).get("detection", {}).get("Value")
    if isinstance(detection, str):
        return Seen((detection, NOTIFIER), str(message), at)
    try:
        alarm = json.loads(message)
    except (ValueError, TypeError):
        return None
    if not isinstance(alarm, dict) or alarm.get("NewStateValue") != "ALARM":
        return None
    return Seen((str(alarm.get("AlarmName", "")), ALARM), str(message), at)


def names_resource(text: str, resource: str, undo: bool) -> bool:
    """Whether a digest names ``resource``: on its undo (or, for a resolved notice, next-step) line
    where the detection has one (the line a person copies), otherwise anywhere."""
    lines = text.splitlines()
    if undo:
        return any(line.strip().startswith(("Undo", "Next")) and resource in line for line in lines)
    return any(resource in line for line in lines)


ACCESS_DENIED = ("AccessDeniedException", "AccessDenied")
GONE = ("NotFound", "NotFoundException", "ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist")


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError; empty for anything else."""
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def with_shortest_window(call: Callable[[int], Any], what: str, say: Say) -> int:
    """Call with the shortest waiting period the account's guardrails allow; return it. A guardrail
    SCP answers AccessDenied for a window it forbids; any other error is the user's to see."""
    for days in WINDOWS_DAYS:
        try:
            call(days)
            return days
        except Exception as error:  # noqa: BLE001 - AccessDenied comes from either service
            if error_code(error) not in ACCESS_DENIED or days == WINDOWS_DAYS[-1]:
                raise UserError(f"{what}: {error}") from None
            say(f"{what}: a {days}-day window is denied here (a guardrail?); trying a longer one")
    raise AssertionError("unreachable")


def delete_key(kms: Any, key_id: str, say: Say) -> None:
    """Schedule a drill key's deletion, unless it is pending deletion already."""
    if kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] in ("PendingDeletion", "PendingReplicaDeletion"):
        return
    days = with_shortest_window(lambda d: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=d),
                                f"schedule drill key {key_id} for deletion", say)
    say(f"drill key {key_id} scheduled for deletion in {days} days")


def delete_secret(secrets: Any, secret_arn: str, say: Say) -> None:
    """Delete a drill secret with a recovery window, unless it is deleted already."""
    if secrets.describe_secret(SecretId=secret_arn).get("DeletedDate"):
        return
    days = with_shortest_window(lambda d: secrets.delete_secret(SecretId=secret_arn, RecoveryWindowInDays=d),
                                f"delete drill secret {secret_arn}", say)
    say(f"drill secret {secret_arn} deleted, recoverable for {days} days")


@dataclass
class RunRecord:
    """What each drill run created, on this machine, per account and Region: the only proof a
    resource is a drill's (a tag anyone with tag permissions can set is none). A JSON file, written
    before each step that creates something, and cleared when its run is cleaned up."""

    path: Path
    scope: str
    """account/Region: a record is only ever acted on where it was made."""

    @classmethod
    def default(cls, scope: str) -> "RunRecord":
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return cls(base / "deletion-alarms" / "drill-runs.json", scope)

    def _load(self) -> dict[str, dict[str, dict[str, str]]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise UserError(f"the drill's run record {self.path} is unreadable ({error}): fix or remove it") from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        temporary.replace(self.path)  # never a half-written record

    def save(self, run_id: str, created: dict[str, str]) -> None:
        data = self._load()
        data.setdefault(self.scope, {})[run_id] = dict(created)
        self._write(data)

    def forget(self, run_id: str) -> None:
        data = self._load()
        if data.get(self.scope, {}).pop(run_id, None) is not None:
            self._write(data)

    def runs(self) -> dict[str, dict[str, str]]:
        return dict(self._load().get(self.scope, {}))


def sweep_leftovers(clients: dict[str, Any], plan: Plan, record: RunRecord, say: Say) -> list[str]:
    """Clean up what interrupted runs recorded on this machine left; what failed, as text."""
    left: list[str] = []
    for run_id, created in record.runs().items():
        leftover = Drill(clients, plan, say, run_id=run_id, created=dict(created), record=record)
        say(f"cleaning up interrupted drill {run_id}: {', '.join(sorted(created))}")
        left += leftover.cleanup()
    return left


def run(clients: dict[str, Any], plan: Plan, timeout: float, record: RunRecord, say: Say = print,
        drill: Drill | None = None) -> list[Result]:
    """The whole drill: sweep, observe, create, trigger, wait, and clean up whatever happened."""
    for problem in sweep_leftovers(clients, plan, record, say):
        say(f"could not clean up: {problem}")
    drill = drill or Drill(clients, plan, say, record=record)
    drill.record = record
    try:
        drill.observe()
        drill.create_resources()
        without = (f", key without key material {drill.created['material_key_id']}"
                   if "material_key_id" in drill.created else "")
        say(f"drill {drill.run_id}: key {drill.created['key_id']}{without}, secret {drill.created['secret_arn']}")
        triggered = drill.trigger()
        return drill.wait(triggered, timeout)
    finally:
        drill.left = drill.cleanup()
        for problem in drill.left:
            say(f"could not clean up: {problem}")

