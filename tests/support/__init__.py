"""Shared test support: one receiver, one agent runner, one eventually(), settings builders."""
