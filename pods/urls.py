from django.urls import path

from pods import views

urlpatterns = [
    path("", views.home, name="home"),
    path("pods/", views.pod_list, name="pod-list"),
    path("pods/<int:pod_id>/", views.pod_detail, name="pod-detail"),
    path("me/presence/", views.presence_set, name="presence-set"),
    path("pods/<int:pod_id>/dashboard/", views.pod_dashboard, name="pod-dashboard"),
    path("organisation/", views.organisation, name="organisation"),
    path("me/figures/", views.my_figures, name="my-figures"),
]
