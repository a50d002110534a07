from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.authentication import token_issue


class Command(BaseCommand):
    help = "Print a new API token for a user (their previous token stops working)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")

    def handle(self, *args, username: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is not active.")
        issued = token_issue(user=user)
        self.stdout.write(issued.key)
        self.stderr.write(f"Valid until {issued.expires_at.isoformat()}.")
