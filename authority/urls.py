from django.urls import path

from authority.views import approvals, figures, insights, panel, portal

urlpatterns = [
    # The agent panel: a fragment of the ticket page, included there by name.
    path(
        "tickets/<int:ticket_id>/authority/",
        panel.ticket_authority,
        name="ticket-authority",
    ),
    path(
        "tickets/<int:ticket_id>/authority/ask/",
        panel.ticket_authority_ask,
        name="ticket-authority-ask",
    ),
    path(
        "tickets/<int:ticket_id>/authority/requests/<int:request_id>/cancel/",
        panel.ticket_authority_cancel,
        name="ticket-authority-cancel",
    ),
    path(
        "tickets/<int:ticket_id>/authority/grants/<int:grant_id>/reverse/",
        panel.ticket_authority_reverse,
        name="ticket-authority-reverse",
    ),
    # The approval queue of leads and admins.
    path("authority/approvals/", approvals.approval_queue, name="authority-approvals"),
    path(
        "authority/approvals/<int:request_id>/approve/",
        approvals.approval_approve,
        name="authority-approve",
    ),
    path(
        "authority/approvals/<int:request_id>/deny/",
        approvals.approval_deny,
        name="authority-deny",
    ),
    # Delegation insights and authority usage (admins; leads read their pod's).
    path("authority/insights/", insights.insights, name="authority-insights"),
    path(
        "authority/insights/apply/",
        insights.insights_apply,
        name="authority-insights-apply",
    ),
    # The authority panels of the pod dashboard and the organisation view.
    path(
        "pods/<int:pod_id>/authority/figures/",
        figures.pod_authority_figures,
        name="pod-authority-figures",
    ),
    path(
        "organisation/authority/figures/",
        figures.organisation_authority_figures,
        name="organisation-authority-figures",
    ),
    # The customer portal: the self-service panel of the portal home, and the
    # customer's own stage-3 actions.
    path(
        "portal/entitlements/panel/",
        portal.portal_entitlements_panel,
        name="portal-entitlements-panel",
    ),
    path("portal/actions/", portal.portal_action, name="portal-action"),
]
