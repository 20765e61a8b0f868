"""Recoup's benchmarks: `make bench` (`python -m benchmarks`) measures, prints and writes
docs/performance.md.

Every figure is a ratio of two things measured in the same run on the same machine, never an
absolute time compared with a threshold, and none of it is a test:

- import_time:   importing each webhook handler as Lambda would, against `import boto3`;
- cold_delivery: importing a handler and answering its first delivery, against the same;
- aws_calls:     AWS API calls per webhook delivery, against the minimum of one.
"""
