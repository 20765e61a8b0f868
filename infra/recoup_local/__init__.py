"""The local stack: moto's server for AWS, resources read from template.yaml, an HTTP front
and queue pollers that call the same handlers Lambda runs. Development tooling only; it is
not shipped in the Lambda layer."""
