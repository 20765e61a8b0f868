"""The reminder queue's job kinds besides a reminder step (whose job has no kind).

Named apart from their services so the sender can tell them from a step without loading
those services: most of its jobs are steps.
"""

SAMPLE = "sample"  # an admin's test message (services/sample_sends.py)
MERCHANT_NOTICE = "merchant_notice"  # a notice to a merchant (services/notifications.py)
