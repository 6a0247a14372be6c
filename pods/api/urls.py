from django.urls import path

from pods.api import views

urlpatterns = [
    path("pods/", views.PodList.as_view(), name="api-pod-list"),
    path("pods/<int:pod_id>/", views.PodDetail.as_view(), name="api-pod-detail"),
    path("pods/<int:pod_id>/agents/", views.PodAgents.as_view(), name="api-pod-agents"),
    path(
        "customers/lookup/", views.CustomerLookup.as_view(), name="api-customer-lookup"
    ),
    path(
        "routing/preview/", views.RoutingPreview.as_view(), name="api-routing-preview"
    ),
    path("me/presence/", views.MyPresence.as_view(), name="api-my-presence"),
    path(
        "pods/<int:pod_id>/staffing/",
        views.PodStaffing.as_view(),
        name="api-pod-staffing",
    ),
    path(
        "organisation/staffing/",
        views.OrganisationStaffing.as_view(),
        name="api-organisation-staffing",
    ),
]
