"""The event path from the AMI queue to delivery: the pump and the tracker log (restart carry-over)."""
