from django.contrib import admin
from django.urls import include, path

from example_project.shop import views

urlpatterns = [
    path("", views.signup, name="signup"),
    path("admin/", admin.site.urls),
    path("tasks/", include("django_taskqueue.api.urls")),
]
