"""The customer's satisfaction survey: the page a rating link opens, the
answer, and the thanks.

A GET never records anything: mail scanners and link previews open every link
in a message, and a rating must be the customer's. The page carries the
chosen rating preselected, and survey.js sends it at once, so it is still one
click; without JavaScript the customer presses the button. An unknown and an
expired link answer the same 404, so a link tells nothing about another."""

import math
from datetime import datetime

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from tickets import selectors, services
from tickets.views._throttle import window_hit

# Per client address: a customer sends one to three answers; a script trying
# links runs into the wall after a few.
SURVEY_POSTS_PER_WINDOW = 20
SURVEY_WINDOW_SECONDS = 600


class SurveyForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Your rating"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a rating from 1 to 5.")},
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=services.MAX_SURVEY_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        labels = services.rating_labels()
        self.fields["rating"].choices = [
            (rating, labels[rating]) for rating in services.SURVEY_RATINGS
        ]


@never_cache
@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET /survey/<token>/?rating=N: the survey with N preselected (nothing is
    recorded); POST records the answer and redirects to the thanks."""
    now = timezone.now()
    if request.method == "POST":
        return _survey_answer(request, token=token, now=now)
    survey = selectors.survey_by_token(token=token, now=now)
    if survey is None:
        return _link_expired(request)
    chosen = _rating_chosen(request.GET.get("rating", ""))
    form = SurveyForm(
        initial={"rating": chosen or survey.rating, "comment": survey.comment}
    )
    return _survey_form(request, survey=survey, form=form, send_at_once=bool(chosen))


@never_cache
@require_GET
def survey_thanks(request: HttpRequest, token: str) -> HttpResponse:
    """GET /survey/<token>/thanks/: the answer given, and a form to add a
    comment or change it while the link lasts."""
    survey = selectors.survey_by_token(token=token, now=timezone.now())
    if survey is None:
        return _link_expired(request)
    if survey.rating is None:
        return redirect("survey", token=token)
    form = SurveyForm(initial={"rating": survey.rating, "comment": survey.comment})
    return render(
        request,
        "tickets/survey/thanks.html",
        {"survey": survey, "form": form, "token": token},
    )


def _survey_answer(request: HttpRequest, *, token: str, now: datetime) -> HttpResponse:
    retry_after = window_hit(
        scope="survey-posts",
        request=request,
        limit=SURVEY_POSTS_PER_WINDOW,
        seconds=SURVEY_WINDOW_SECONDS,
        at=now.timestamp(),
    )
    if retry_after:
        response = render(
            request,
            "tickets/survey/limited.html",
            {"minutes": math.ceil(retry_after / 60)},
            status=429,
        )
        response["Retry-After"] = str(retry_after)
        return response
    form = SurveyForm(data=request.POST)
    if not form.is_valid():
        survey = selectors.survey_by_token(token=token, now=now)
        if survey is None:
            return _link_expired(request)
        return _survey_form(request, survey=survey, form=form, status=400)
    try:
        services.satisfaction_survey_answer(
            token=token,
            rating=form.cleaned_data["rating"],
            comment=form.cleaned_data["comment"],
            now=now,
        )
    except (services.SurveyUnknown, services.SurveyExpired):
        return _link_expired(request)
    return redirect("survey-thanks", token=token)


def _survey_form(
    request: HttpRequest,
    *,
    survey,
    form: SurveyForm,
    send_at_once: bool = False,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "tickets/survey/rate.html",
        {"survey": survey, "form": form, "send_at_once": send_at_once},
        status=status,
    )


def _rating_chosen(value: str) -> int | None:
    """The rating a link chose, or None for anything else (a mangled link
    shows the survey with nothing chosen)."""
    ratings = {str(rating): rating for rating in services.SURVEY_RATINGS}
    return ratings.get(value)


def _link_expired(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/survey/expired.html", status=404)
