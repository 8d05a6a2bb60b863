"""Tools around traces: replay, the AMI simulator, trace files, the demo."""
