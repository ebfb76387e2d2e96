"""Invitations (SPEC §14): an owner invites an email with a role; the mail's link, valid 7 days and
good once, lets the person set a password (or sign in) and join the tenant with that role.

Every rule and write is here, each in one transaction with its audit event. The link's token is
mailed and never stored, logged or audited: the row holds its SHA-256 digest only.
"""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from access.actor import Actor
from audit.services import record
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from tenants import services
from tenants.models import Invitation, Membership, User

VALID_FOR = dt.timedelta(days=7)
TOKEN_BYTES = 32


class InvitationInvalid(NotFound):
    default_message = (
        "This invitation link is not valid: it was used already, cancelled, replaced by a newer "
        "one, or it has expired. Ask an owner of the organisation to send a new invitation."
    )


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def accept_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("invitation-open", kwargs={"token": token}))


def _meta(invitation: Invitation, **extra) -> dict:
    return {"email": invitation.email, "role": invitation.role, **extra}


def _issue(invitation: Invitation) -> str:
    """A fresh token and 7 days from now on `invitation` (not saved). Returns the token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    invitation.token_digest = digest(token)
    invitation.sent_at = now
    invitation.expires_at = now + VALID_FOR
    return token


def _send(request, invitation: Invitation, token: str) -> None:
    context = {
        "invitation": invitation,
        "tenant": invitation.tenant,
        "inviter": invitation.invited_by,
        "url": accept_url(request, token),
        "days": VALID_FOR.days,
    }
    subject = render_to_string("tenants/email/invitation_subject.txt", context).strip()
    body = render_to_string("tenants/email/invitation_message.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])


def pending(tenant):
    return tenant.invitations.filter(accepted_at__isnull=True).select_related("invited_by")


def has_pending(email: str) -> bool:
    """Whether `email` has an unexpired pending invitation to some tenant."""
    return Invitation.objects.filter(
        email__iexact=email, accepted_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


def invite(request, tenant, actor, *, email: str, role: str) -> Invitation:
    """Invite `email` to `tenant` with `role` and mail the link. 409 when the email is already a
    member or already has a pending invitation (resend that one instead)."""
    email = services.normalise_email(email)
    with transaction.atomic():
        services.lock_tenant(tenant)
        if tenant.memberships.filter(user__email__iexact=email).exists():
            raise Conflict(f"{email} is already a member; change their role instead.")
        if pending(tenant).filter(email__iexact=email).exists():
            raise Conflict(f"{email} is already invited; resend that invitation instead.")
        invitation = Invitation(tenant=tenant, email=email, role=role, invited_by=actor.user)
        token = _issue(invitation)
        try:
            with transaction.atomic():
                invitation.save()
        except IntegrityError:  # a concurrent invitation of the same email
            raise Conflict(f"{email} is already invited; resend that invitation instead.") from None
        record(tenant, actor, "member.invited", target=invitation, metadata=_meta(invitation))
    _send(request, invitation, token)
    return invitation


def resend(request, tenant, actor, invitation: Invitation) -> Invitation:
    """A new link (the old one stops working) valid 7 days from now, mailed again."""
    with transaction.atomic():
        locked = _relock(tenant, invitation)
        token = _issue(locked)
        locked.save(update_fields=["token_digest", "sent_at", "expires_at"])
        record(tenant, actor, "member.invited", target=locked, metadata=_meta(locked, resent=True))
    _send(request, locked, token)
    return locked


def cancel(tenant, actor, invitation: Invitation) -> Invitation:
    """Withdraw a pending invitation: its link stops working."""
    with transaction.atomic():
        locked = _relock(tenant, invitation)
        record(tenant, actor, "member.invitation_cancelled", target=locked, metadata=_meta(locked))
        locked.delete()
    return locked


def _relock(tenant, invitation: Invitation) -> Invitation:
    # Without pending()'s join to the inviter: PostgreSQL locks no row of an outer join.
    locked = (
        tenant.invitations.filter(accepted_at__isnull=True, pk=invitation.pk)
        .select_for_update()
        .first()
    )
    if locked is None:
        raise NotFound("That invitation is no longer pending.")
    return locked


def find(token: str) -> Invitation:
    """The pending, unexpired invitation whose link carries `token`, or InvitationInvalid."""
    invitation = (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(token_digest=digest(token or ""), accepted_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.expires_at <= timezone.now():
        raise InvitationInvalid()
    return invitation


@dataclass
class Joined:
    membership: Membership
    user_created: bool


def accept(request, token: str, *, user=None, password: str | None = None, name: str = ""):
    """Spend the invitation: `user` (signed in with the invited email) joins, or, when the email
    has no account yet, one is created with `password`. Audited `member.joined`."""
    with transaction.atomic():
        invitation = find(token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None:  # spent by a concurrent request
            raise InvitationInvalid()
        tenant = invitation.tenant
        services.lock_tenant(tenant)
        existing = User.objects.filter(email__iexact=invitation.email).first()
        created = False
        if user is not None:
            if user.email.lower() != invitation.email.lower():
                raise Forbidden(
                    f"This invitation is for {invitation.email}; you are signed in as "
                    f"{user.email}. Log out, then open the link again."
                )
        elif existing is not None:
            raise Conflict(f"{invitation.email} already has an account: log in with it to accept.")
        else:
            if not password:
                raise Invalid({"password1": ["This field is required."]})
            user, created, _ = services.get_or_create_user(
                invitation.email, name=name, password=password
            )
        membership = tenant.memberships.filter(user=user).first()
        if membership is None:
            membership = Membership.objects.create(tenant=tenant, user=user, role=invitation.role)
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        record(
            tenant,
            Actor.for_user(user, request, membership),
            "member.joined",
            target=user,
            metadata=_meta(invitation, userCreated=created),
        )
    return Joined(membership, created)
