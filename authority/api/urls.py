from django.urls import path

from authority.api import figures, views

urlpatterns = [
    path(
        "authority/action-types/",
        views.ActionTypeList.as_view(),
        name="api-authority-action-types",
    ),
    path(
        "authority/decisions/",
        views.DecisionPreview.as_view(),
        name="api-authority-decisions",
    ),
    path(
        "authority/requests/",
        views.RequestListCreate.as_view(),
        name="api-authority-requests",
    ),
    path(
        "authority/requests/<int:request_id>/",
        views.RequestDetail.as_view(),
        name="api-authority-request",
    ),
    path(
        "authority/requests/<int:request_id>/approve/",
        views.RequestApprove.as_view(),
        name="api-authority-request-approve",
    ),
    path(
        "authority/requests/<int:request_id>/deny/",
        views.RequestDeny.as_view(),
        name="api-authority-request-deny",
    ),
    path(
        "authority/requests/<int:request_id>/cancel/",
        views.RequestCancel.as_view(),
        name="api-authority-request-cancel",
    ),
    path("authority/grants/", views.GrantList.as_view(), name="api-authority-grants"),
    path(
        "authority/grants/<int:grant_id>/reverse/",
        views.GrantReverse.as_view(),
        name="api-authority-grant-reverse",
    ),
    path(
        "pods/<int:pod_id>/authority/figures/",
        figures.PodAuthorityFigures.as_view(),
        name="api-pod-authority-figures",
    ),
    path(
        "organisation/authority/figures/",
        figures.OrganisationAuthorityFigures.as_view(),
        name="api-organisation-authority-figures",
    ),
]
