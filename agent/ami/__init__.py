"""AMI connection, wire parsing, traces and the trace simulator. No panoramisk type leaves this package."""
