from django.urls import path

from tickets.views import chat, contact, figures, inbound, portal, survey, workspace
from tickets.views import templates as reply_templates

urlpatterns = [
    path("inbound/email/", inbound.inbound_email, name="inbound-email"),
    path("inbound/phone/", inbound.inbound_phone, name="inbound-phone"),
    path("inbound/sms/", inbound.inbound_sms, name="inbound-sms"),
    path(
        "inbound/social/<slug:provider>/",
        inbound.inbound_social,
        name="inbound-social",
    ),
    path("contact/", contact.contact_form, name="contact"),
    path(
        "contact/thanks/<str:receipt>/",
        contact.contact_thanks,
        name="contact-thanks",
    ),
    path("chat/session/", chat.chat_session_start, name="chat-session"),
    path("chat/demo/", chat.chat_demo, name="chat-demo"),
    path("survey/<str:token>/", survey.survey_page, name="survey"),
    path(
        "survey/<str:token>/thanks/",
        survey.survey_thanks,
        name="survey-thanks",
    ),
    # Reply templates: the composer's panel on a ticket (htmx fragments the
    # ticket page includes by name) and the leads' pages.
    path(
        "tickets/<int:ticket_id>/templates/",
        reply_templates.ticket_templates,
        name="ticket-templates",
    ),
    path(
        "tickets/<int:ticket_id>/templates/<int:template_id>/preview/",
        reply_templates.ticket_template_preview,
        name="ticket-template-preview",
    ),
    path(
        "tickets/<int:ticket_id>/templates/<int:template_id>/send/",
        reply_templates.ticket_template_send,
        name="ticket-template-send",
    ),
    path(
        "tickets/<int:ticket_id>/templates/<int:template_id>/suggest/",
        reply_templates.ticket_template_suggest,
        name="ticket-template-suggest",
    ),
    path("templates/", reply_templates.reply_template_list, name="reply-templates"),
    path(
        "templates/new/",
        reply_templates.reply_template_create,
        name="reply-template-create",
    ),
    path(
        "templates/<int:template_id>/",
        reply_templates.reply_template_detail,
        name="reply-template-detail",
    ),
    path(
        "templates/suggestions/",
        reply_templates.template_suggestion_list,
        name="template-suggestions",
    ),
    path(
        "templates/suggestions/<int:suggestion_id>/decide/",
        reply_templates.template_suggestion_decide,
        name="template-suggestion-decide",
    ),
    # The agent workspace: queues, the ticket page and its actions (each also
    # an htmx fragment), attachments.
    path("queue/", workspace.queue, name="queue"),
    path("queue/rows/", workspace.queue_rows, name="queue-rows"),
    path("tickets/<int:ticket_id>/", workspace.ticket_detail, name="ticket-detail"),
    path("tickets/<int:ticket_id>/live/", workspace.ticket_live, name="ticket-live"),
    path("tickets/<int:ticket_id>/take/", workspace.ticket_take, name="ticket-take"),
    path(
        "tickets/<int:ticket_id>/messages/",
        workspace.ticket_message_add,
        name="ticket-message-add",
    ),
    path(
        "tickets/<int:ticket_id>/status/",
        workspace.ticket_status_set,
        name="ticket-status",
    ),
    path(
        "tickets/<int:ticket_id>/fields/",
        workspace.ticket_fields_edit,
        name="ticket-fields",
    ),
    path(
        "tickets/<int:ticket_id>/assign/",
        workspace.ticket_assign_to,
        name="ticket-assign",
    ),
    path(
        "tickets/<int:ticket_id>/colleagues/",
        workspace.ticket_colleagues,
        name="ticket-colleagues",
    ),
    path(
        "tickets/<int:ticket_id>/invite/",
        workspace.ticket_invite,
        name="ticket-invite",
    ),
    path(
        "tickets/<int:ticket_id>/leave/",
        workspace.ticket_leave,
        name="ticket-leave",
    ),
    path(
        "tickets/<int:ticket_id>/reopen/",
        workspace.ticket_reopen,
        name="ticket-reopen",
    ),
    path(
        "tickets/<int:ticket_id>/mentions/",
        workspace.ticket_mentions,
        name="ticket-mentions",
    ),
    path(
        "attachments/<int:attachment_id>/",
        workspace.attachment_download,
        name="attachment-download",
    ),
    # The tickets panels of the dashboards (htmx fragments and CSV), included
    # by the pages of pods by name.
    path(
        "pods/<int:pod_id>/figures/live/",
        figures.pod_figures_live,
        name="pod-figures-live",
    ),
    path("pods/<int:pod_id>/figures/", figures.pod_figures, name="pod-figures"),
    path(
        "organisation/figures/",
        figures.organisation_figures,
        name="organisation-figures",
    ),
    path("me/figures/panel/", figures.my_figures_panel, name="my-figures-panel"),
    # The customer portal's tickets (the signed-in customer's only): the panel
    # the portal's home includes by name, a ticket's page, its reply, files,
    # and a new request.
    path(
        "portal/tickets/panel/",
        portal.portal_tickets_panel,
        name="portal-tickets-panel",
    ),
    path(
        "portal/tickets/<int:ticket_id>/",
        portal.portal_ticket,
        name="portal-ticket",
    ),
    path(
        "portal/tickets/<int:ticket_id>/reply/",
        portal.portal_ticket_reply,
        name="portal-ticket-reply",
    ),
    path(
        "portal/attachments/<int:attachment_id>/",
        portal.portal_attachment,
        name="portal-attachment",
    ),
    path("portal/contact/", portal.portal_contact, name="portal-contact"),
]
