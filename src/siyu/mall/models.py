"""Shopper login codes, login throttles and the shopper's address book."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.fields import EncryptedTextField


class LoginCode(models.Model):
    """A one-time login code sent by SMS (短信验证码). Only a keyed hash of the code is stored,
    and the phone only as its lookup hash: a database dump lets nobody log in."""

    phone_hash = models.CharField(max_length=64)
    code_hash = models.CharField(max_length=64)
    salt = models.CharField(max_length=32)
    ip_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    # superseded by a newer code, too many wrong tries, or the SMS could not be sent
    voided_at = models.DateTimeField(null=True, blank=True)
    send_failed = models.BooleanField(default=False)
    provider_message_id = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = _("login code")
        verbose_name_plural = _("login codes")
        indexes = [
            models.Index(fields=["phone_hash", "created_at"], name="mall_code_phone_time_idx"),
            models.Index(fields=["created_at"], name="mall_code_time_idx"),
        ]

    def __str__(self) -> str:
        return f"login code {self.pk}"


class LoginThrottle(models.Model):
    """A fixed-window counter: codes sent per phone per hour, failed tries per IP per hour...

    One row per (scope, key, window); a conditional UPDATE increments it only while it is under
    the limit, so concurrent requests cannot slip past it.
    """

    scope = models.CharField(max_length=32)
    key_hash = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key_hash", "window_start"], name="mall_throttle_unique_window"
            )
        ]
        indexes = [models.Index(fields=["window_start"], name="mall_throttle_window_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.count} since {self.window_start:%Y-%m-%d %H:%M}"


class Address(models.Model):
    """An entry of a shopper's address book (收货地址). Name, phone and street are personal data:
    encrypted at rest; province/city/district stay plain for shipping regions and reports."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="mall_addresses"
    )
    receiver_name = EncryptedTextField(_("receiver"))
    receiver_phone = EncryptedTextField(_("receiver phone"))
    province = models.CharField(_("province"), max_length=30)
    city = models.CharField(_("city"), max_length=30)
    district = models.CharField(_("district"), max_length=30, blank=True)
    detail = EncryptedTextField(_("street address"))
    label = models.CharField(_("label"), max_length=20, blank=True)
    is_default = models.BooleanField(_("default address"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["-is_default", "-updated_at", "-id"]
        indexes = [models.Index(fields=["customer", "id"], name="mall_address_customer_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True),
                name="mall_address_one_default",
            )
        ]

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.district}"

    @property
    def region(self) -> str:
        return " ".join(p for p in (self.province, self.city, self.district) if p)

    @property
    def full_address(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.detail}"
