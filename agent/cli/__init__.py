"""Operator commands: check-config and status."""
