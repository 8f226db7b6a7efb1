"""The runner's definition cache: read once, re-read after a refresh, clamped either way."""

import pytest

from django_taskqueue.models import TaskDefinition
from django_taskqueue.runner.definitions import DefinitionCache
from django_taskqueue.store import get_store

pytestmark = pytest.mark.django_db


def test_rows_are_read_once_until_the_cache_is_refreshed(django_assert_num_queries):
    definition = TaskDefinition.objects.for_alias("Sleeper")
    cache = DefinitionCache(get_store())
    with django_assert_num_queries(1):
        first = cache.get([definition.pk])
        again = cache.get([definition.pk])
    assert first == again and first[definition.pk].timeout_seconds == 0.5
    TaskDefinition.objects.filter(pk=definition.pk).update(timeout_seconds=2.0)
    assert cache.get([definition.pk])[definition.pk].timeout_seconds == 0.5  # still cached
    cache.refresh()
    assert cache.get([definition.pk])[definition.pk].timeout_seconds == 2.0  # an operator's edit


def test_values_written_past_the_rules_are_made_safe():
    definition = TaskDefinition.objects.for_alias("Sleeper")
    TaskDefinition.objects.filter(pk=definition.pk).update(
        timeout_seconds=-3, retry_backoff_seconds=1e300, retry_backoff_max_seconds=-1
    )
    info = DefinitionCache(get_store()).get([definition.pk])[definition.pk]
    assert info.timeout_seconds is None  # not a positive number: no limit
    assert info.retry_backoff_seconds == 366 * 24 * 3600.0
    assert info.retry_backoff_max_seconds == 0.0
