from django.urls import path

from pods import views

urlpatterns = [
    path("", views.home, name="home"),
    path("pods/", views.pod_list, name="pod-list"),
    path("pods/<int:pod_id>/", views.pod_detail, name="pod-detail"),
    path("me/presence/", views.presence_set, name="presence-set"),
]
