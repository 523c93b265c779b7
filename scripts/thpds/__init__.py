"""Tooling for the THP deferred-split KUnit suite (mm/tests/thp_deferred_split*)."""
