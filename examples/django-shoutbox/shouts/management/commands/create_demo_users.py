from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

# username, password, staff, first name
DEMO_USERS = [
    ("alice", "alice-password", True, "Alice"),
    ("bob", "bob-password", False, "Bob"),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo users alice (staff) and bob. Safe to run again."

    def handle(self, *args, **options):
        User = get_user_model()
        for username, password, staff, first_name in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            changed = created
            if not user.check_password(password):
                user.set_password(password)
                changed = True
            for field, value in (("is_staff", staff), ("is_active", True), ("first_name", first_name)):
                if getattr(user, field) != value:
                    setattr(user, field, value)
                    changed = True
            if changed:
                user.save()
            state = "created" if created else ("updated" if changed else "up to date")
            self.stdout.write(f"{username} ({'staff' if staff else 'not staff'}): {state}")
