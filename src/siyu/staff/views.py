"""Login, account (password, API tokens), staff and store lists."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.pagination import page_from_request

from . import services
from .forms import StaffCreateForm, TokenForm
from .models import ApiToken, Store


class LoginView(auth_views.LoginView):
    template_name = "staff/login.html"
    redirect_authenticated_user = True


@login_required
def account(request):
    actor = actor_from_request(request)
    password_form = PasswordChangeForm(request.user, prefix="pw")
    token_form = TokenForm(prefix="tok")
    new_token = None
    if request.method == "POST" and "pw-old_password" in request.POST:
        password_form = PasswordChangeForm(request.user, request.POST, prefix="pw")
        if password_form.is_valid():
            user = password_form.save()
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password was changed."))
            return redirect("staff:account")
    elif request.method == "POST" and "tok-name" in request.POST:
        token_form = TokenForm(request.POST, prefix="tok")
        if token_form.is_valid():
            _token, new_token = services.issue_api_token(
                request.user, token_form.cleaned_data["name"], actor=actor
            )
            token_form = TokenForm(prefix="tok")
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request,
        "staff/account.html",
        {
            "title": _("Account"),
            "password_form": password_form,
            "token_form": token_form,
            "tokens": tokens,
            "new_token": new_token,
        },
    )


@login_required
@require_POST
def revoke_token(request, token_id: int):
    services.revoke_api_token(token_id, actor=actor_from_request(request))
    messages.success(request, _("The token was revoked."))
    return redirect("staff:account")


@login_required
def staff_list(request):
    actor = actor_from_request(request)
    authorize(actor, "staff.manage")
    form = StaffCreateForm()
    if request.method == "POST":
        form = StaffCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.create_staff(
                    username=data["username"],
                    password=data["password"],
                    role=data["role"],
                    store=data["store"],
                    display_name=data["display_name"],
                    actor=actor,
                )
            except DomainError as exc:
                for field, message in exc.fields.items():
                    form.add_error(field if field in form.fields else None, exc.message or message)
            else:
                messages.success(request, _("Staff member created."))
                return redirect("staff:list")
    qs = services.staff_in_scope(actor)
    if q := request.GET.get("q"):
        qs = qs.filter(username__icontains=q) | qs.filter(display_name__icontains=q)
    if role := request.GET.get("role"):
        qs = qs.filter(role=role)
    page = page_from_request(request, qs)
    return render(request, "staff/list.html", {"title": _("Staff"), "page": page, "form": form})


@login_required
def store_list(request):
    actor = actor_from_request(request)
    authorize(actor, "staff.view_stores")
    stores = Store.objects.all()
    if not actor.sees_all_stores:
        stores = stores.filter(pk=actor.store_id)
    return render(request, "staff/stores.html", {"title": _("Stores"), "stores": stores})
