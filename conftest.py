# Shared fixtures live in tests/support, one module per kind of real service.
pytest_plugins = [
]
