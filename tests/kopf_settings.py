"""kopf's settings for operators run against the test emulator; imports kopf only, so that a process that
runs just an operator (the operator bench's) holds none of the emulator's modules."""

import kopf


def quick_settings() -> kopf.OperatorSettings:
    """kopf's defaults, minus the waits that only make sense against a remote cluster."""
    settings = kopf.OperatorSettings()
    settings.networking.error_backoffs = [0.05, 0.1, 0.2, 0.5]
    settings.watching.reconnect_backoff = 0.05
    settings.queueing.idle_timeout = 0.1
    settings.queueing.exit_timeout = 1.0
    return settings
