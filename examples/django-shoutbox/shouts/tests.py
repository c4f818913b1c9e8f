"""The hook views as Perigee calls them, the page, and the staff-only announcement."""
import io
import json
from unittest import mock

import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase, override_settings

from .models import MAX_LENGTH, Shout

User = get_user_model()


def connect_payload(cookie=None):
    headers = {"origin": "http://127.0.0.1:8000", "user-agent": "test"}
    if cookie is not None:
        headers["cookie"] = cookie
    return {"hook": "connect", "session": "session-1f", "transport": "websocket", "tls": False,
            "client": {"address": "127.0.0.1", "port": 51234},
            "stomp_headers": {"accept-version": "1.2", "host": "127.0.0.1"}, "http_headers": headers}


def send_payload(body, user="alice", destination="/topic/shouts"):
    return {"hook": "send", "session": "session-1f", "transport": "websocket", "user": user,
            "data": {"name": "Alice", "staff": True}, "destination": destination,
            "headers": {"content-type": "text/plain"}, "body": body}


# Password hashing made fast: every test logs in.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class HookTestCase(TestCase):
    def setUp(self):
        call_command("create_demo_users", stdout=io.StringIO())
        self.alice = User.objects.get(username="alice")
        self.bob = User.objects.get(username="bob")

    def hook(self, path, payload, **extra):
        return self.client.post(path, json.dumps(payload), content_type="application/json", **extra)

    def session_cookie(self, username):
        """The cookie header a browser logged in as `username` sends."""
        self.client.login(username=username, password=f"{username}-password")
        key = self.client.cookies["sessionid"].value
        self.client.cookies.clear()  # the hook must go by the forwarded header, not the client's
        return f"csrftoken=abc; sessionid={key}; theme=dark"


class ConnectHookTests(HookTestCase):
    def test_a_logged_in_session_is_the_user(self):
        response = self.hook("/perigee/connect", connect_payload(self.session_cookie("alice")))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {
            "user": "alice", "subscribe": ["/topic/shouts", "/topic/announcements"],
            "send": ["/topic/shouts"], "data": {"name": "Alice", "staff": True}})

    def test_bob_is_not_staff(self):
        response = self.hook("/perigee/connect", connect_payload(self.session_cookie("bob")))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["user"], "bob")
        self.assertEqual(response.json()["data"], {"name": "Bob", "staff": False})

    def test_no_cookie_is_refused(self):
        for payload in (connect_payload(), connect_payload("theme=dark"), connect_payload("sessionid=")):
            response = self.hook("/perigee/connect", payload)
            self.assertEqual(response.status_code, 403)
            self.assertEqual(response.json(), {"reason": "not logged in"})

    def test_a_made_up_or_logged_out_session_is_refused(self):
        cookie = self.session_cookie("bob")
        self.client.cookies["sessionid"] = cookie.split("sessionid=")[1].split(";")[0]
        self.client.post("/logout/")
        for payload in (connect_payload(cookie), connect_payload("sessionid=notarealsessionkey0123456789")):
            response = self.hook("/perigee/connect", payload)
            self.assertEqual(response.status_code, 403, payload)
            self.assertEqual(response.json(), {"reason": "not logged in"})

    def test_an_inactive_user_is_refused(self):
        cookie = self.session_cookie("bob")
        self.bob.is_active = False
        self.bob.save()
        self.assertEqual(self.hook("/perigee/connect", connect_payload(cookie)).status_code, 403)

    def test_a_stomp_tcp_connect_without_http_headers_is_refused(self):
        payload = connect_payload()
        del payload["http_headers"]
        payload["transport"] = "tcp"
        self.assertEqual(self.hook("/perigee/connect", payload).status_code, 403)


class SendHookTests(HookTestCase):
    def test_a_shout_is_stored_and_gets_its_id(self):
        response = self.hook("/perigee/send", send_payload("hello <b>world</b>"))
        self.assertEqual(response.status_code, 200)
        shout = Shout.objects.get()
        self.assertEqual((shout.author, shout.text, shout.announcement), (self.alice, "hello <b>world</b>", False))
        self.assertEqual(response.json(), {"headers": {"x-shout-id": str(shout.pk)}})

    def test_surrounding_space_is_stripped_and_the_stripped_text_published(self):
        response = self.hook("/perigee/send", send_payload("  hi bob \n"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["body"], "hi bob")
        self.assertEqual(Shout.objects.get().text, "hi bob")

    def test_empty_and_too_long_shouts_are_refused_and_not_stored(self):
        for body, reason in (("", "empty shout"), ("  \n\t ", "empty shout"),
                             ("x" * (MAX_LENGTH + 1), f"shout longer than {MAX_LENGTH} characters")):
            response = self.hook("/perigee/send", send_payload(body))
            self.assertEqual(response.status_code, 403)
            self.assertEqual(response.json(), {"reason": reason})
        self.assertFalse(Shout.objects.exists())

    def test_exactly_the_limit_is_accepted(self):
        self.assertEqual(self.hook("/perigee/send", send_payload("é" * MAX_LENGTH)).status_code, 200)

    def test_anonymous_unknown_user_or_other_destination_is_refused(self):
        for payload in (send_payload("hi", user=None), send_payload("hi", user="mallory"),
                        send_payload("hi", destination="/topic/announcements")):
            self.assertEqual(self.hook("/perigee/send", payload).status_code, 403, payload)
        self.assertFalse(Shout.objects.exists())


class HookGuardTests(HookTestCase):
    def test_hooks_refuse_callers_that_are_not_loopback(self):
        for path, payload in (("/perigee/connect", connect_payload(self.session_cookie("alice"))),
                              ("/perigee/send", send_payload("forged"))):
            response = self.hook(path, payload, REMOTE_ADDR="203.0.113.7")
            self.assertEqual(response.status_code, 403)
            self.assertEqual(response.json(), {"reason": "hooks answer Perigee only"})
        self.assertFalse(Shout.objects.exists())

    def test_ipv6_loopback_is_accepted(self):
        self.assertEqual(self.hook("/perigee/send", send_payload("hi"), REMOTE_ADDR="::1").status_code, 200)

    @override_settings(PERIGEE_HOOK_ADDRESSES=frozenset({"10.0.0.5"}))
    def test_the_allowed_addresses_are_configurable(self):
        self.assertEqual(self.hook("/perigee/send", send_payload("hi")).status_code, 403)
        self.assertEqual(self.hook("/perigee/send", send_payload("hi"), REMOTE_ADDR="10.0.0.5").status_code, 200)

    def test_hooks_need_no_csrf_token_but_take_only_json_posts(self):
        csrf_client = self.client_class(enforce_csrf_checks=True)
        response = csrf_client.post("/perigee/send", json.dumps(send_payload("hi")), content_type="application/json")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.client.get("/perigee/connect").status_code, 405)
        for body in ("not json", "[1, 2]"):
            response = self.client.post("/perigee/send", body, content_type="application/json")
            self.assertEqual(response.status_code, 400)


class PageTests(HookTestCase):
    def test_the_page_needs_a_login(self):
        response = self.client.get("/")
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/login/"))

    @override_settings(PERIGEE_URL="http://perigee.test:9100")
    def test_the_page_shows_the_last_50_shouts_oldest_first_escaped(self):
        for i in range(60):
            Shout.objects.create(author=self.bob if i % 2 else self.alice, text=f"shout {i} <script>")
        self.client.login(username="bob", password="bob-password")
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        page = response.content.decode()
        self.assertNotIn("shout 9 ", page)
        self.assertIn("shout 10 &lt;script&gt;", page)
        self.assertLess(page.index("shout 10 "), page.index("shout 59 "))
        self.assertNotIn("<script>", page.replace('<script type="module"', "").replace(
            '<script id="shoutbox-config" type="application/json">', ""))
        config = json.loads(page.split('<script id="shoutbox-config" type="application/json">')[1].split("</script>")[0])
        self.assertEqual(config["perigeeJs"], "http://perigee.test:9100/perigee.js")
        self.assertEqual(config["stompUrl"], "http://perigee.test:9100/stomp")
        self.assertNotIn('id="announce_form"', page)  # bob is not staff

    def test_staff_see_the_announce_form(self):
        self.client.login(username="alice", password="alice-password")
        self.assertContains(self.client.get("/"), 'id="announce_form"')

    def test_demo_users_command_is_idempotent(self):
        self.bob.set_password("changed")
        self.bob.is_staff = True
        self.bob.save()
        call_command("create_demo_users", stdout=io.StringIO())
        self.assertEqual(User.objects.filter(username__in=["alice", "bob"]).count(), 2)
        bob = User.objects.get(username="bob")
        self.assertTrue(bob.check_password("bob-password"))
        self.assertFalse(bob.is_staff)


def perigee_answer(status=202, body=None):
    response = mock.Mock(status_code=status, text=json.dumps(body or {}))
    response.json.return_value = body if body is not None else {"message-id": "m-1", "delivered": 2, "queued": False}
    return response


@override_settings(PERIGEE_URL="http://perigee.test:9100", PERIGEE_API_KEY="k3y")
class AnnounceTests(HookTestCase):
    def test_staff_announce_with_one_publish_call(self):
        self.client.login(username="alice", password="alice-password")
        with mock.patch("shouts.views.requests.post", return_value=perigee_answer()) as post:
            response = self.client.post("/announce", {"text": "  tea in five minutes "})
        self.assertEqual(response.status_code, 200)
        post.assert_called_once_with(
            "http://perigee.test:9100/api/publish/topic/announcements", data="tea in five minutes".encode(),
            headers={"Authorization": "Bearer k3y", "Content-Type": "text/plain; charset=utf-8"}, timeout=5)
        shout = Shout.objects.get()
        self.assertEqual((shout.author, shout.text, shout.announcement), (self.alice, "tea in five minutes", True))
        self.assertEqual(response.json(), {"id": shout.pk, "delivered": 2})

    def test_non_staff_may_not_announce(self):
        self.client.login(username="bob", password="bob-password")
        with mock.patch("shouts.views.requests.post") as post:
            response = self.client.post("/announce", {"text": "I am staff now"})
        self.assertEqual(response.status_code, 403)
        post.assert_not_called()
        self.assertFalse(Shout.objects.exists())

    def test_anonymous_may_not_announce(self):
        with mock.patch("shouts.views.requests.post") as post:
            response = self.client.post("/announce", {"text": "hi"})
        self.assertEqual(response.status_code, 302)
        post.assert_not_called()

    def test_announce_needs_a_csrf_token(self):
        csrf_client = self.client_class(enforce_csrf_checks=True)
        csrf_client.login(username="alice", password="alice-password")
        with mock.patch("shouts.views.requests.post") as post:
            self.assertEqual(csrf_client.post("/announce", {"text": "hi"}).status_code, 403)
        post.assert_not_called()

    def test_empty_or_too_long_announcements_are_not_published(self):
        self.client.login(username="alice", password="alice-password")
        with mock.patch("shouts.views.requests.post") as post:
            for text in ("   ", "x" * (MAX_LENGTH + 1)):
                self.assertEqual(self.client.post("/announce", {"text": text}).status_code, 400)
        post.assert_not_called()

    def test_a_failed_publish_is_reported_and_not_stored(self):
        self.client.login(username="alice", password="alice-password")
        failures = (requests.ConnectionError("refused"), perigee_answer(401, {"error": "bad key"}))
        for failure in failures:
            kwargs = {"side_effect": failure} if isinstance(failure, Exception) else {"return_value": failure}
            with mock.patch("shouts.views.requests.post", **kwargs):
                response = self.client.post("/announce", {"text": "hello"})
            self.assertEqual(response.status_code, 502)
            self.assertIn("error", response.json())
        self.assertFalse(Shout.objects.exists())
