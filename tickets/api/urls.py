from django.urls import path

from tickets.api import views

urlpatterns = [
    path("tickets/", views.TicketListCreate.as_view(), name="api-ticket-list"),
    path("tickets/search/", views.TicketSearch.as_view(), name="api-ticket-search"),
    path(
        "tickets/<int:ticket_id>/",
        views.TicketDetail.as_view(),
        name="api-ticket-detail",
    ),
    path(
        "tickets/<int:ticket_id>/messages/",
        views.TicketMessages.as_view(),
        name="api-ticket-messages",
    ),
    path(
        "tickets/<int:ticket_id>/status/",
        views.TicketStatus.as_view(),
        name="api-ticket-status",
    ),
    path(
        "tickets/<int:ticket_id>/merge/",
        views.TicketMerge.as_view(),
        name="api-ticket-merge",
    ),
    path(
        "customers/<int:customer_id>/timeline/",
        views.CustomerTimeline.as_view(),
        name="api-customer-timeline",
    ),
    path(
        "satisfaction/",
        views.PodSatisfaction.as_view(),
        name="api-satisfaction",
    ),
    # The figures of the dashboards.
    path(
        "pods/<int:pod_id>/figures/",
        views.PodFiguresDetail.as_view(),
        name="api-pod-figures",
    ),
    path(
        "organisation/figures/",
        views.OrganisationFiguresList.as_view(),
        name="api-organisation-figures",
    ),
    path("me/figures/", views.MyFigures.as_view(), name="api-my-figures"),
]
