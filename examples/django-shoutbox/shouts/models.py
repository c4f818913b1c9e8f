from django.conf import settings
from django.db import models

MAX_LENGTH = 280


def shout_problem(text):
    """Why `text` (already stripped) cannot be a shout, or None when it can."""
    if not text:
        return "empty shout"
    if len(text) > MAX_LENGTH:
        return f"shout longer than {MAX_LENGTH} characters"
    return None


class Shout(models.Model):
    """One line of the shoutbox: a shout a user sent over Perigee (stored by the send hook), or
    an announcement a staff member published through Perigee's HTTP API."""

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shouts")
    text = models.CharField(max_length=MAX_LENGTH)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    announcement = models.BooleanField(default=False)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self):
        return f"{self.author}: {self.text[:40]}"

    @classmethod
    def latest(cls, count=50):
        """The last `count` shouts, oldest first (as the page shows them)."""
        newest = cls.objects.select_related("author").order_by("-created", "-id")[:count]
        return list(reversed(newest))
