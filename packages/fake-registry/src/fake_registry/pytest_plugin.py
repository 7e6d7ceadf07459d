"""pytest plugin (entry point ``pytest11``): fixtures for the fake registry."""
