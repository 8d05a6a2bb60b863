"""Security tests: hostile peers and receivers on 127.0.0.1, secrets never shown, bad input answered clearly."""
