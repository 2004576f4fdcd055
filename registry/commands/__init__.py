"""The core's own sub-commands; each module is a plugin with a ``register_commands`` hook."""
