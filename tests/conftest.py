pytest_plugins = ["tests.integration.s3server", "tests.k8s.fixtures"]
