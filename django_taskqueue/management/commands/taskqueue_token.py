"""``manage.py taskqueue_token USERNAME [--lifetime DURATION] [--tenant NAME]``: a bearer
token for the API, bound to one tenant's items if ``--tenant`` is given."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskqueue.api.auth import mint_token
from django_taskqueue.exceptions import InvalidValue
from django_taskqueue.management.arguments import duration_in
from django_taskqueue.tenants import check_tenant
from django_taskqueue.validation import check_integer

MAX_TOKEN_LIFETIME_SECONDS = 10 * 366 * 24 * 3600  # ten years


class Command(BaseCommand):
    help = "Print an HTTP API bearer token (HS256 JWT) that acts as the given user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--lifetime",
            type=duration_in("s"),
            default=None,
            help="Until the token expires: 3600, 12h, 30d (default: API_JWT_LIFETIME_SECONDS).",
        )
        parser.add_argument(
            "--tenant", help="Bind the token to this tenant: it sees and acts on its items only."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        lifetime = options["lifetime"]
        if lifetime is not None:
            lifetime = round(lifetime)
            try:
                check_integer(lifetime, "--lifetime", 1, MAX_TOKEN_LIFETIME_SECONDS)
            except InvalidValue as exc:
                raise CommandError(f"{exc} (1s to 10 years)") from None
        try:
            tenant = check_tenant(options["tenant"])
        except InvalidValue as exc:
            raise CommandError(str(exc)) from None
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        if not getattr(user, "is_active", True):
            raise CommandError(
                f"User {options['username']!r} is inactive; tokens would be refused."
            )
        self.stdout.write(mint_token(user, lifetime, tenant))
