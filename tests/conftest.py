pytest_plugins = ["tests.integration.s3server"]
