import requests
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from .hooks import ANNOUNCEMENTS, SHOUTS
from .models import MAX_LENGTH, Shout, shout_problem

HISTORY = 50


@login_required
def shoutbox(request):
    """The page: the last HISTORY shouts from the database, then live ones from Perigee."""
    config = {
        "perigeeJs": f"{settings.PERIGEE_URL}/perigee.js",
        "stompUrl": f"{settings.PERIGEE_URL}/stomp",
        "shouts": SHOUTS,
        "announcements": ANNOUNCEMENTS,
        "maxLength": MAX_LENGTH,
        "user": request.user.get_username(),
    }
    return render(request, "shouts/shoutbox.html", {
        "shouts": Shout.latest(HISTORY),
        "config": config,
        "max_length": MAX_LENGTH,
        "perigee_url": settings.PERIGEE_URL,
    })


@login_required
@require_POST
def announce(request):
    """Staff only: publish an announcement to every window with one call to Perigee's HTTP
    API (no relay process), and keep it in the history. Answers JSON for the page's script."""
    if not request.user.is_staff:
        return JsonResponse({"error": "only staff may announce"}, status=403)
    text = request.POST.get("text", "").strip()
    problem = shout_problem(text)
    if problem:
        return JsonResponse({"error": problem}, status=400)
    try:
        response = requests.post(
            f"{settings.PERIGEE_URL}/api/publish{ANNOUNCEMENTS}",
            data=text.encode("utf-8"),
            headers={"Authorization": f"Bearer {settings.PERIGEE_API_KEY}",
                     "Content-Type": "text/plain; charset=utf-8"},
            timeout=5,
        )
    except requests.RequestException as error:
        return JsonResponse({"error": f"Perigee is unreachable: {error}"}, status=502)
    if response.status_code != 202:
        return JsonResponse({"error": f"Perigee answered {response.status_code}: {response.text[:200]}"},
                            status=502)
    shout = Shout.objects.create(author=request.user, text=text, announcement=True)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    delivered = answer.get("delivered") if isinstance(answer, dict) else None
    return JsonResponse({"id": shout.pk, "delivered": delivered})
