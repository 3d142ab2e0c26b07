"""Build the deletion-alarms CloudFormation templates with troposphere and awacs."""
