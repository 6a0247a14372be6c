"""Pages of pods: the home page, the pod list and a pod's detail."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from pods import selectors, services
from pods.models import Agent, Pod


@login_required
def home(request: HttpRequest) -> HttpResponse:
    agent = selectors.agent_for_user(user_id=request.user.pk)
    return render(
        request,
        "pods/home.html",
        {
            "agent": agent,
            "pod": agent.pod if agent else None,
            "presences": Agent.Presence.choices,
            "can_see_all_pods": request.user.has_perm("pods.view_all_pods"),
        },
    )


@login_required
def pod_list(request: HttpRequest) -> HttpResponse:
    pods = [
        pod
        for pod in selectors.pod_list()
        if request.user.has_perm("pods.view_pod", pod)
    ]
    return render(request, "pods/pod_list.html", {"pods": pods})


@login_required
def pod_detail(request: HttpRequest, pod_id: int) -> HttpResponse:
    try:
        pod = selectors.pod_detail(pod_id=pod_id)
    except Pod.DoesNotExist:
        raise Http404 from None
    if not request.user.has_perm("pods.view_pod", pod):
        raise Http404
    return render(
        request,
        "pods/pod_detail.html",
        {
            "pod": pod,
            "members": selectors.pod_members(pod_id=pod.id),
            "open_seats": selectors.pod_open_seats(pod_id=pod.id),
            "splits": selectors.pod_splits(pod_id=pod.id)[:20],
            "threshold_percent": min(
                100, round(100 * pod.customer_count / pod.split_threshold)
            ),
        },
    )


@login_required
@require_POST
def presence_set(request: HttpRequest) -> HttpResponse:
    """Set the signed-in agent's presence (from the home page or the header menu)
    and go back to the page the form was on."""
    agent = selectors.agent_for_user(user_id=request.user.pk)
    if agent is None:
        raise Http404
    presence = request.POST.get("presence", "")
    if presence not in Agent.Presence.values:
        messages.error(request, _("Choose online, away or offline."))
        return _back(request)
    services.agent_presence_set(agent=agent, presence=presence, now=timezone.now())
    messages.success(
        request,
        _("You are now %(presence)s.")
        % {"presence": agent.get_presence_display().lower()},
    )
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    """Redirect to the form's `next` page when it is on this site, else home."""
    next_url = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(next_url if safe else "home")
