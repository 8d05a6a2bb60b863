"""event-agent: an Event Manager for Asterisk PBXs."""

from __future__ import annotations

__version__ = "0.1.0"
