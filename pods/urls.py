from django.urls import path

from pods import views
from pods.views import portal

urlpatterns = [
    path("", views.home, name="home"),
    path("pods/", views.pod_list, name="pod-list"),
    path("pods/<int:pod_id>/", views.pod_detail, name="pod-detail"),
    path("me/presence/", views.presence_set, name="presence-set"),
    path("pods/<int:pod_id>/dashboard/", views.pod_dashboard, name="pod-dashboard"),
    path("organisation/", views.organisation, name="organisation"),
    path("me/figures/", views.my_figures, name="my-figures"),
    # The customer portal: sign in by a one-time link, and its overview.
    path("portal/", portal.home, name="portal-home"),
    path("portal/sign-in/", portal.sign_in, name="portal-sign-in"),
    path("portal/link/<str:token>/", portal.link, name="portal-link"),
    path("portal/sign-out/", portal.sign_out, name="portal-sign-out"),
]
