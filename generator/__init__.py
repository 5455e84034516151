"""cricksy-gen: per-environment Terraform JSON from Jinja templates and YAML values."""
