"""The admin HTTP API and the web page."""
