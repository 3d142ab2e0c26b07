"""CloudFormation templates built with troposphere and awacs from the detection catalog: pure and
offline. Imports the detections package, never the operations."""
