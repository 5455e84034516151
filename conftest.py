# Shared fixtures live in tests/support, one module per kind of real service.
pytest_plugins = [
    "tests.support.postgres",
    "tests.support.aws",
    "tests.support.media",
    "tests.support.terraform",
]
