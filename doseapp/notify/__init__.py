"""Outgoing e-mail for high-dose alerts: the SMTP client (smtp), the outbox that keeps every message
until the server takes it (outbox), and what alerts turn into which messages for whom (alerts)."""
