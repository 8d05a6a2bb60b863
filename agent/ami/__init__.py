"""The AMI connection: wire parsing, login, reconnect, ping watchdog, resync. No panoramisk type leaves this package."""
