"""Installs the upstream tools and files the tests use, at the versions pinned in versions.toml."""
