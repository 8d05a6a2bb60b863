"""The call model and the five system events. Pure: stdlib and agent.ami.events only."""
