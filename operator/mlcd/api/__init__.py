"""The mlcd API: pydantic models of the custom resources, the one source of truth for their schemas."""
