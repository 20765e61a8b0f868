"""Recoup's benchmarks: `make bench` (`python -m benchmarks`) measures, prints and writes
docs/performance.md.

Every figure is a ratio of two things measured in the same run on the same machine, never an
absolute time compared with a threshold, and none of it is a test:

- import_time:   importing every handler as Lambda would, from the built layer, against
                 `import boto3` from it; the layer's size;
- cold_delivery: importing a handler and answering its first delivery, against the same;
- aws_calls:     AWS API calls per webhook delivery, against the minimum of one;
- scheduler_reads: items one scheduler run reads from the due index, against the due cases,
                 with 1,000 and 10,000 cases scheduled later;
- lifecycle:     AWS API calls for one case's whole life (opened, three reminders, paid),
                 against the minimum the design needs (report_reminders writes it out).
"""
