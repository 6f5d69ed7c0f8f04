"""The core engine and its registries; transports call `Engine` and nothing below it."""
