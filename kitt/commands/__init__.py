"""Commands: requests that handlers validate against current state and turn into events."""
