from django.db import models


class Journal(models.Model):
    """One row per handler execution: the ground truth for exactly-once checks."""

    item_id = models.BigIntegerField(db_index=True)
    attempt = models.PositiveIntegerField()
    pid = models.PositiveIntegerField()
    note = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
