"""The hooks Perigee calls (hooks.connect and hooks.send in perigee.yaml), in the formats of
Perigee's hook contract: a JSON POST in, a JSON answer out; 200 allows, 403 with a reason
refuses.

Only Perigee may call them: the send hook stores a shout under whatever user the request
names, and the connect hook tells who owns a session cookie. Perigee sends no secret of its
own on hook calls, so the guard is the caller's address: REMOTE_ADDR must be one of
settings.PERIGEE_HOOK_ADDRESSES (loopback by default: Perigee runs on the same machine).
Never route /perigee/ through a reverse proxy on this machine, which would make every caller
look local.
"""
import json
from functools import wraps
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.http import JsonResponse
from django.http.cookie import parse_cookie
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Shout, shout_problem

SHOUTS = "/topic/shouts"
ANNOUNCEMENTS = "/topic/announcements"


def refuse(reason):
    return JsonResponse({"reason": reason}, status=403)


def perigee_hook(view):
    """Accept only a POST of a JSON object from an allowed address; pass the object on."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request):
        if request.META.get("REMOTE_ADDR") not in settings.PERIGEE_HOOK_ADDRESSES:
            return refuse("hooks answer Perigee only")
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return JsonResponse({"reason": "the body is not a JSON object"}, status=400)
        return view(request, payload)

    return wrapper


def user_for_session(session_key):
    """The active user logged in under the Django session `session_key`, or None. Goes through
    auth.get_user, so a session whose password hash is stale or whose user is inactive counts
    as logged out, exactly as for a request to Django itself."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user = auth.get_user(SimpleNamespace(session=store))
    return user if user.is_authenticated else None


@perigee_hook
def connect(request, payload):
    """Who the browser is: the Django session named by the `sessionid` cookie of the
    WebSocket handshake (or SockJS request), which Perigee forwards in http_headers.cookie."""
    headers = payload.get("http_headers")
    cookie = headers.get("cookie") if isinstance(headers, dict) else None
    cookies = parse_cookie(cookie) if isinstance(cookie, str) else {}
    user = user_for_session(cookies.get(settings.SESSION_COOKIE_NAME))
    if user is None:
        return refuse("not logged in")
    username = user.get_username()
    return JsonResponse({
        "user": username,
        "subscribe": [SHOUTS, ANNOUNCEMENTS],
        "send": [SHOUTS],
        "data": {"name": user.get_full_name() or username, "staff": user.is_staff},
    })


@perigee_hook
def send(request, payload):
    """Store a shout before Perigee publishes it, or refuse it (then nobody receives it).
    The stored text is the stripped one, and that is what gets published."""
    if payload.get("destination") != SHOUTS:
        return refuse(f"shouts go to {SHOUTS}")
    body = payload.get("body")
    text = body.strip() if isinstance(body, str) else ""
    problem = shout_problem(text)
    if problem:
        return refuse(problem)
    username = payload.get("user")
    author = get_user_model().objects.filter(username=username, is_active=True).first() if username else None
    if author is None:
        return refuse("not logged in")
    shout = Shout.objects.create(author=author, text=text)
    answer = {"headers": {"x-shout-id": str(shout.pk)}}
    if text != body:
        answer["body"] = text
    return JsonResponse(answer)
