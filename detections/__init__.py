"""The detection catalog and its languages: CloudWatch Logs filter patterns, EventBridge event
patterns, Athena SQL and alert messages. Pure and offline; imports neither stacks nor the operations."""
