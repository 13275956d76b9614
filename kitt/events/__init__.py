"""The system's language: event structs, the envelope, subjects, streams and the event bus."""
