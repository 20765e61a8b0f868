"""The fault-injection matrix: one scenario per consumer on the in-process stack, each AWS
call it makes failed in turn with each fault kind, run to quiescence, and the outcome read
from the stack's state (docs/reliability.md)."""
