"""Optional HTTP API: mount ``django_taskqueue.api.urls`` to expose jobs, queues, schedules,
health and metrics.

JSON in and out over plain Django views; bearer JWT (HS256) or Django session authentication,
mapped onto the same model permissions the admin uses.
"""
