"""Console pages of the customer pool. Thin: parse, call a service, render."""

from __future__ import annotations

import csv
import json
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.apps import siyu_configs
from siyu.core.errors import DomainError, ValidationFailed
from siyu.core.pagination import page_from_request

from . import services
from .forms import (
    BulkTagForm,
    ConsentForm,
    ContactForm,
    EraseForm,
    HandOverForm,
    MergeForm,
    OptOutForm,
    OwnerForm,
    ProfileForm,
    TagForm,
    TagGroupForm,
    apply_errors,
    clerks_for,
)
from .models import (
    ConsentChannel,
    ConsentEvent,
    IdentityKind,
    MergeRecord,
    OwnerKind,
    Ownership,
    Source,
    Tag,
    TagGroup,
)
from .rules import describe_rule

SOURCES = dict(Source.choices)
CHANNELS = dict(ConsentChannel.choices)
KINDS = dict(IdentityKind.choices)


def _filters(request) -> tuple[services.CustomerFilters, dict]:
    """Filters from the query string; bad ones are reported and ignored, not a broken page."""
    try:
        return services.CustomerFilters.from_params(request.GET), {}
    except ValidationFailed as exc:
        return services.CustomerFilters(), exc.fields


def _row(actor, customer) -> dict:
    return {
        "c": customer,
        "name": services.display_name(actor, customer),
        "phone": services.display_phone(actor, customer),
        "source": SOURCES.get(customer.source, customer.source),
        "owner": services.owner_label(customer),
        "tags": [ct.tag for ct in customer.customer_tags.all()],
    }


def _filter_choices(actor) -> dict:
    from siyu.staff.models import Store

    return {
        "sources": Source.choices,
        "tag_groups": TagGroup.objects.prefetch_related("tags"),
        "clerks": clerks_for(actor, active_only=False) if actor.role != "clerk" else [],
        "stores": Store.objects.all() if actor.sees_all_stores else [],
        "channels": ConsentChannel.choices,
    }


@login_required
def customer_list(request):
    actor = actor_from_request(request)
    filters, filter_errors = _filters(request)
    qs = services.with_list_columns(services.search_customers(actor, filters))
    page = page_from_request(request, qs)
    rows = [_row(actor, c) for c in page.items]
    query = urlencode(filters.as_params(), doseq=True)
    return render(
        request,
        "customers/list.html",
        {
            "title": _("Customers"),
            "page": page,
            "rows": rows,
            "filters": filters,
            "filter_errors": filter_errors,
            "query": query,
            "bulk_form": BulkTagForm() if actor.can("customers.tag") else None,
            "can_add": actor.can("customers.edit"),
            "can_merge": actor.can("customers.merge"),
            **_filter_choices(actor),
        },
    )


@login_required
def export_csv(request):
    actor = actor_from_request(request)
    filters, errors = _filters(request)
    if errors:
        raise ValidationFailed(_("Some filters are invalid."), fields=errors)
    rows = services.export_list(actor, filters)

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def stream():
        yield "\ufeff"  # Excel opens UTF-8 Chinese correctly only with a BOM
        for row in rows:
            yield writer.writerow(row)

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response


@login_required
@require_POST
def bulk_tag(request):
    actor = actor_from_request(request)
    filters, errors = _filters(request)
    back = f"{reverse('customers:list')}?{urlencode(filters.as_params(), doseq=True)}"
    form = BulkTagForm(request.POST)
    if errors or not form.is_valid():
        messages.error(request, _("Pick a tag to apply to the list."))
        return redirect(back)
    tag = form.cleaned_data["tag"]
    if form.cleaned_data["action"] == "remove":
        count = services.bulk_untag(actor, filters, tag.pk)
        messages.success(
            request,
            _("Removed “%(tag)s” from %(n)s customers.") % {"tag": tag.name, "n": f"{count:,}"},
        )
    else:
        count = services.bulk_tag(actor, filters, tag.pk)
        messages.success(
            request,
            _("Tagged %(n)s customers with “%(tag)s”.") % {"tag": tag.name, "n": f"{count:,}"},
        )
    return redirect(back)


@login_required
def customer_new(request):
    actor = actor_from_request(request)
    authorize(actor, "customers.edit")
    form = ContactForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        try:
            reg = services.register_contact(form.contact_input(), actor=actor)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            if not reg.visible:
                messages.warning(
                    request,
                    _(
                        "This person is already a customer served by someone else. The visit was "
                        "recorded; ask your store manager if they should move to you."
                    ),
                )
                return redirect("customers:list")
            if reg.created:
                messages.success(request, _("Customer added."))
            else:
                messages.info(
                    request,
                    _("This person was already a customer; the new details were added to them."),
                )
            if reg.suggestions:
                messages.warning(
                    request,
                    _(
                        "Some details belong to another customer record; a merge suggestion was "
                        "created for review."
                    ),
                )
            return redirect("customers:detail", pk=reg.customer.pk)
    return render(request, "customers/new.html", {"title": _("Add a customer"), "form": form})


def _timeline(actor, customer, orders) -> list[dict]:
    items = []
    for t in customer.touches.all()[:100]:
        items.append(
            {
                "at": t.occurred_at,
                "kind": "touch",
                "text": SOURCES.get(t.source, t.source),
                "detail": t.detail,
            }
        )
    for o in Ownership.objects.filter(customer=customer)[:50]:
        items.append(
            {
                "at": o.started_at,
                "kind": "owner",
                "text": _("Served by %(name)s") % {"name": o.owner_label or f"#{o.owner_id}"},
                "detail": o.reason,
            }
        )
    for e in ConsentEvent.objects.filter(customer=customer)[:100]:
        channel = _("all marketing") if e.channel == "all" else CHANNELS.get(e.channel, e.channel)
        text = (_("Agreed to %(channel)s") if e.granted else _("Declined %(channel)s")) % {
            "channel": channel
        }
        items.append({"at": e.occurred_at, "kind": "consent", "text": text, "detail": e.source})
    for m in MergeRecord.objects.filter(survivor=customer):
        items.append(
            {
                "at": m.merged_at,
                "kind": "merge",
                "text": _("Record #%(id)s merged in") % {"id": m.merged_id},
                "detail": m.reason,
            }
        )
    for o in orders:
        items.append(
            {
                "at": o.placed_at,
                "kind": "order",
                "text": _("Order %(number)s") % {"number": o.number},
                "detail": o.get_status_display(),
                "amount": o.paid_fen or o.payable_fen,
            }
        )
    items.sort(key=lambda i: i["at"] or datetime.min, reverse=True)
    return items[:80]


def _panels(request, actor, customer) -> list[dict]:
    panels = []
    for config in siyu_configs():
        for panel in config.customer_panels(actor, customer):
            html = render_to_string(
                panel["template"],
                {**panel.get("context", {}), "customer": customer, "actor": actor},
                request=request,
            )
            panels.append({"title": panel["title"], "html": html, "app": config.label})
    return panels


def _tag_context(actor, customer) -> dict:
    held = {ct.tag_id: ct for ct in customer.customer_tags.select_related("tag__group")}
    groups = []
    for group in TagGroup.objects.prefetch_related("tags"):
        tags = [{"tag": t, "held": t.pk in held, "by_rule": bool(t.rule)} for t in group.tags.all()]
        if tags:
            groups.append({"group": group, "tags": tags})
    return {
        "customer": customer,
        "tag_groups": groups,
        "held_tags": [ct.tag for ct in held.values()],
        "can_tag": actor.can("customers.tag") and customer.is_active,
    }


@login_required
def customer_detail(request, pk: int):
    from siyu.orders.queries import orders_for_customer

    actor = actor_from_request(request)
    customer = services.get_customer(actor, pk)
    if customer.merged_into_id:
        return _tombstone(request, actor, customer)
    orders = list(orders_for_customer(customer.pk, limit=20))
    figures = _order_figures(customer)
    identities = [
        {"kind": KINDS.get(i.kind, i.kind), "value": services.display_identity(actor, i), "i": i}
        for i in customer.identities.order_by("kind", "pk")
    ]
    consents = {c.channel: c for c in customer.consents.all()}
    consent_rows = [
        {"channel": code, "label": label, "consent": consents.get(code)}
        for code, label in ConsentChannel.choices
    ]
    context = {
        "title": services.display_name(actor, customer),
        "customer": customer,
        "name": services.display_name(actor, customer),
        "phone": services.display_phone(actor, customer, full=True),
        "source": SOURCES.get(customer.source, customer.source),
        "identities": identities,
        "consent_rows": consent_rows,
        "ownerships": Ownership.objects.filter(customer=customer).select_related("store"),
        "orders": orders,
        "timeline": _timeline(actor, customer, orders),
        "merges": MergeRecord.objects.filter(survivor=customer),
        "panels": _panels(request, actor, customer),
        "owner": services.owner_label(customer),
        "figures": figures,
        "can_edit": actor.can("customers.edit") and customer.is_active,
        "can_reassign": actor.can("customers.reassign") and customer.is_active,
        "can_merge": actor.can("customers.merge") and customer.is_active,
        "can_export": actor.can("customers.export"),
        "can_erase": actor.can("customers.erase") and customer.erased_at is None,
        "consent_form": ConsentForm(),
        "optout_form": OptOutForm(),
        "owner_form": OwnerForm(actor=actor) if actor.can("customers.reassign") else None,
        "channels": ConsentChannel.choices,
        **_tag_context(actor, customer),
    }
    return render(request, "customers/detail.html", context)


def _order_figures(customer) -> dict:
    """Lifetime figures over paid orders (read-only from the orders app's table)."""
    from django.db.models import Count, F, Max, Sum

    from siyu.orders.models import Order, OrderStatus

    return (
        Order.objects.filter(customer=customer, paid_at__isnull=False)
        .exclude(status=OrderStatus.CANCELLED)
        .aggregate(
            orders=Count("pk"),
            net_fen=Sum(F("paid_fen") - F("refunded_fen")),
            last=Max("paid_at"),
        )
    )


def _tombstone(request, actor, customer):
    record = MergeRecord.objects.filter(merged=customer).first()
    return render(
        request,
        "customers/tombstone.html",
        {
            "title": _("Customer #%(id)s (merged)") % {"id": customer.pk},
            "customer": customer,
            "record": record,
            "survivor_visible": services.can_see(actor, customer.merged_into),
        },
    )


@login_required
@require_POST
def customer_tags(request, pk: int):
    actor = actor_from_request(request)
    try:
        tag_id = int(request.POST.get("tag", ""))
    except ValueError:
        raise ValidationFailed(_("Pick a tag."), fields={"tag": _("Required.")}) from None
    if request.POST.get("action") == "remove":
        services.remove_tag(pk, tag_id, actor=actor)
    else:
        services.add_tag(pk, tag_id, actor=actor)
    if request.htmx:
        customer = services.get_customer(actor, pk)
        return render(request, "customers/_tags.html", _tag_context(actor, customer))
    return redirect("customers:detail", pk=pk)


@login_required
@require_POST
def customer_consent(request, pk: int):
    actor = actor_from_request(request)
    if "action" in request.POST:
        form = OptOutForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Say where the customer asked for this."))
            return redirect("customers:detail", pk=pk)
        if form.cleaned_data["action"] == "opt_out":
            services.opt_out_everywhere(pk, actor=actor, source=form.cleaned_data["source"])
            messages.success(request, _("The customer is opted out of all marketing."))
        else:
            services.withdraw_opt_out(pk, actor=actor, source=form.cleaned_data["source"])
            messages.success(request, _("The opt-out was withdrawn; record each channel anew."))
        return redirect("customers:detail", pk=pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Pick a channel and say where the customer answered."))
        return redirect("customers:detail", pk=pk)
    d = form.cleaned_data
    try:
        services.set_consent(pk, d["channel"], d["granted"], actor=actor, source=d["source"])
    except DomainError as exc:
        if exc.status >= 500 or exc.status in (403, 404):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Consent recorded."))
    return redirect("customers:detail", pk=pk)


@login_required
@require_POST
def customer_owner(request, pk: int):
    actor = actor_from_request(request)
    authorize(actor, "customers.reassign")
    form = OwnerForm(request.POST, actor=actor)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("customers:detail", pk=pk)
    d = form.cleaned_data
    if d["owner_kind"] == OwnerKind.CLERK:
        services.assign_owner(pk, actor=actor, owner_id=d["clerk"].pk, reason=d["reason"])
    else:
        services.assign_owner(
            pk,
            actor=actor,
            owner_kind=d["owner_kind"],
            owner_id=d["owner_id"],
            owner_label=d["owner_label"],
            reason=d["reason"],
        )
    messages.success(request, _("Owner changed."))
    return redirect("customers:detail", pk=pk)


@login_required
def customer_edit(request, pk: int):
    actor = actor_from_request(request)
    authorize(actor, "customers.edit")
    customer = services.get_customer(actor, pk)
    initial = {f: getattr(customer, f) for f in ("name", "gender", "birthday", "province", "city")}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_profile(pk, actor=actor, **form.cleaned_data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Profile saved."))
            return redirect("customers:detail", pk=pk)
    return render(
        request,
        "customers/edit.html",
        {"title": _("Edit profile"), "form": form, "customer": customer},
    )


@login_required
def customer_export_json(request, pk: int):
    actor = actor_from_request(request)
    data = services.export_personal_data(pk, actor=actor)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="customer-{pk}-personal-data.json"'
    return response


@login_required
def customer_erase(request, pk: int):
    actor = actor_from_request(request)
    authorize(actor, "customers.erase")
    customer = services.get_customer(actor, pk)
    form = EraseForm(request.POST or None, customer_id=customer.pk)
    if request.method == "POST" and form.is_valid():
        try:
            services.erase_customer(pk, actor=actor, reason=form.cleaned_data["reason"])
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, _("Customer #%(id)s was erased. This cannot be undone.") % {"id": pk}
            )
            return redirect("customers:detail", pk=pk)
    return render(
        request,
        "customers/erase.html",
        {
            "title": _("Erase customer #%(id)s") % {"id": customer.pk},
            "customer": customer,
            "name": services.display_name(actor, customer),
            "form": form,
        },
    )


def _side(actor, side: services.MergeSide) -> dict:
    c = side.customer
    return {
        "c": c,
        "name": services.display_name(actor, c),
        "phone": services.display_phone(actor, c, full=True),
        "source": SOURCES.get(c.source, c.source),
        "owner": services.owner_label(c),
        "identities": [
            (KINDS.get(i.kind, i.kind), services.display_identity(actor, i))
            for i in side.identities
        ],
        "tags": side.tags,
        "consents": [(CHANNELS.get(x.channel, x.channel), x.granted) for x in side.consents],
        "order_count": side.order_count,
        "touch_count": side.touch_count,
    }


@login_required
def merge(request):
    actor = actor_from_request(request)
    authorize(actor, "customers.merge")
    if request.method == "POST":
        form = MergeForm(request.POST)
        if form.is_valid():
            d = form.cleaned_data
            services.merge_customers(
                d["survivor"],
                d["merged"],
                actor=actor,
                reason=d["reason"],
                suggestion_id=d.get("suggestion"),
            )
            messages.success(
                request,
                _("Customer #%(merged)s was merged into #%(survivor)s.")
                % {"merged": d["merged"], "survivor": d["survivor"]},
            )
            return redirect("customers:detail", pk=d["survivor"])
        messages.error(request, _("Pick which record stays."))
    params = request.POST if request.method == "POST" else request.GET
    a, b = str(params.get("a", "")).lstrip("#"), str(params.get("b", "")).lstrip("#")
    context = {"title": _("Merge two customers"), "a": a, "b": b, "sides": None}
    if a.isdigit() and b.isdigit():
        first, second = services.merge_preview(actor, int(a), int(b))
        # the older record stays by default: it is the one people already know
        keep = min((first, second), key=lambda s: (s.customer.first_seen_at, s.customer.pk))
        context.update(
            sides=[_side(actor, first), _side(actor, second)],
            default_survivor=keep.customer.pk,
            suggestion=params.get("suggestion", ""),
        )
    return render(request, "customers/merge.html", context)


@login_required
def suggestions(request):
    actor = actor_from_request(request)
    page = page_from_request(request, services.open_suggestions(actor))
    rows = []
    for s in page.items:
        rows.append(
            {
                "s": s,
                "a": services.display_name(actor, s.customer_a),
                "b": services.display_name(actor, s.customer_b),
                "a_source": SOURCES.get(s.customer_a.source, s.customer_a.source),
                "b_source": SOURCES.get(s.customer_b.source, s.customer_b.source),
            }
        )
    history = [
        {"m": m, "survivor": services.display_name(actor, m.survivor)}
        for m in services.merge_history(actor)[:30]
    ]
    return render(
        request,
        "customers/suggestions.html",
        {"title": _("Merge suggestions"), "page": page, "rows": rows, "history": history},
    )


@login_required
@require_POST
def suggestion_dismiss(request, pk: int):
    actor = actor_from_request(request)
    services.dismiss_suggestion(pk, actor=actor)
    messages.success(request, _("Dismissed: these records stay apart."))
    return redirect("customers:suggestions")


@login_required
def handover(request):
    actor = actor_from_request(request)
    authorize(actor, "customers.reassign")
    form = HandOverForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            count = services.hand_over_customers(
                d["from_user"].pk, d["to_user"].pk, actor=actor, reason=d["reason"]
            )
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(n)s customers moved from %(from)s to %(to)s.")
                % {"n": f"{count:,}", "from": d["from_user"].name, "to": d["to_user"].name},
            )
            return redirect("customers:handover")
    return render(request, "customers/handover.html", {"title": _("Hand over"), "form": form})


@login_required
def tags(request):
    from django.db.models import Count

    actor = actor_from_request(request)
    authorize(actor, "customers.manage_tags")
    group_form = TagGroupForm(prefix="g")
    tag_form = TagForm(prefix="t")
    if request.method == "POST":
        try:
            if "g-name" in request.POST:
                group_form = TagGroupForm(request.POST, prefix="g")
                if group_form.is_valid():
                    d = group_form.cleaned_data
                    services.create_tag_group(
                        actor=actor, name=d["name"], exclusive=d["exclusive"], sort=d["sort"] or 0
                    )
                    messages.success(request, _("Tag group created."))
                    return redirect("customers:tags")
            elif "t-name" in request.POST:
                tag_form = TagForm(request.POST, prefix="t")
                if tag_form.is_valid():
                    d = tag_form.cleaned_data
                    tag = services.create_tag(
                        actor=actor,
                        group_id=d["group"].pk,
                        name=d["name"],
                        color=d["color"],
                        rule=d["rule"],
                        sort=d["sort"] or 0,
                    )
                    if tag.rule:
                        from .tasks import refresh_rule_tags

                        refresh_rule_tags.enqueue([tag.pk])
                    messages.success(request, _("Tag created."))
                    return redirect("customers:tags")
        except ValidationFailed as exc:
            apply_errors(group_form if "g-name" in request.POST else tag_form, exc)
    counts = dict(Tag.objects.annotate(n=Count("customer_tags")).values_list("pk", "n"))
    groups = []
    for group in TagGroup.objects.prefetch_related("tags"):
        groups.append(
            {
                "group": group,
                "tags": [
                    {"tag": t, "count": counts.get(t.pk, 0), "rule": describe_rule(t.rule)}
                    for t in group.tags.all()
                ],
            }
        )
    return render(
        request,
        "customers/tags.html",
        {
            "title": _("Tags"),
            "groups": groups,
            "group_form": group_form,
            "tag_form": tag_form,
        },
    )


@login_required
@require_POST
def tag_delete(request, tag_id: int):
    actor = actor_from_request(request)
    count = services.delete_tag(tag_id, actor=actor)
    messages.success(request, _("Tag deleted; removed from %(n)s customers.") % {"n": count})
    return redirect("customers:tags")


@login_required
@require_POST
def rules_refresh(request):
    from .tasks import refresh_rule_tags

    actor = actor_from_request(request)
    authorize(actor, "customers.manage_tags")
    refresh_rule_tags.enqueue()
    messages.success(
        request, _("Rule tags are being re-evaluated in the background; refresh in a minute.")
    )
    return redirect("customers:tags")
