"""URLs of the HTTP API; mount with ``path("tasks/", include("django_taskqueue.api.urls"))``."""

from django.urls import path, re_path

from . import schedules, views, workflows

app_name = "taskqueue_api"
urlpatterns = [
    path("api/v1/jobs", views.jobs, name="jobs"),
    path("api/v1/jobs/<str:item_id>", views.job, name="job"),
    path("api/v1/jobs/<str:item_id>/cancel", views.cancel_job, name="cancel"),
    path("api/v1/jobs/<str:item_id>/requeue", views.requeue_job, name="requeue"),
    path("api/v1/queues", views.queues, name="queues"),
    path("api/v1/queues/<str:name>", views.queue, name="queue"),
    path("api/v1/schedules", schedules.schedules, name="schedules"),
    path("api/v1/schedules/<str:name>", schedules.schedule, name="schedule"),
    path("api/v1/schedules/<str:name>/fire", schedules.fire_schedule, name="fire_schedule"),
    path("api/v1/workflows", workflows.workflows, name="workflows"),
    path("api/v1/workflows/<str:workflow_id>", workflows.workflow, name="workflow"),
    path(
        "api/v1/workflows/<str:workflow_id>/cancel",
        workflows.cancel_workflow,
        name="cancel_workflow",
    ),
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    re_path(r"^(?P<path>api/.*)$", views.unknown_path),
]
