"""The dashboards read the same small brand as the segment tests."""

from tests.segments.conftest import (  # noqa: F401  (fixtures)
    everyone,
    snapshot_of,
    tag_group,
    world,
)
