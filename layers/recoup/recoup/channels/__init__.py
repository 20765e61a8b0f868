"""Reminder channels: render emails and SMS from templates, and build the MIME message.

`render` (context, shipped templates, merchant overrides), `sandbox` (how an untrusted
override is checked and rendered) and `mime` (the raw message SES sends). Import the modules
themselves; this package imports nothing so that a function that sends no message pays
nothing for Jinja2 or email_validator.
"""
