"""The signed-in user's menu in the page header, with their presence as an agent
and the form to change it, on every page that extends base.html."""

from django import template

from pods import selectors

register = template.Library()


@register.inclusion_tag("includes/user_menu.html", takes_context=True)
def user_menu(context: template.Context) -> dict:
    """Render the user menu; agents get their presence and the presence form.

    At most one query, none when pods.middleware already read the agent, and
    none for a signed-out user (the header shows no menu then)."""
    user = context.get("user")
    request = context.get("request")
    signed_in = user is not None and user.is_authenticated
    if not signed_in:
        agent = None
    elif hasattr(request, "agent"):
        agent = request.agent
    else:
        agent = selectors.agent_for_user(user_id=user.pk)
    # An inclusion tag renders in a fresh context: pass on what the menu reads
    # (csrf_token is carried over by Django itself).
    return {
        "user": user,
        "request": request,
        "me": agent,
        "choices": agent.Presence.choices if agent is not None else (),
    }
