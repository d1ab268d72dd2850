"""Row scope in one place, and the search box that understands phones, 尾号, ids and names."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers.services import (
    CustomerFilters,
    add_tag,
    get_customer,
    search_customers,
    visible_customers,
)
from tests.conftest import actor_of

pytestmark = pytest.mark.django_db


def ids(qs):
    return sorted(qs.values_list("pk", flat=True))


def test_each_role_sees_its_rows(
    register, clerk, make_staff, store, other_store, store_manager, operator, analyst, owner
):
    other_clerk = make_staff("clerk")
    far_clerk = make_staff("clerk", store=other_store)
    mine = register(owner=clerk)
    colleague = register(owner=other_clerk)
    far = register(owner=far_clerk)
    unowned_in_store = register(store=store)
    platform = register(source="tmall")
    everyone = [mine, colleague, far, unowned_in_store, platform]

    assert ids(visible_customers(actor_of(clerk))) == [mine.pk]
    assert ids(visible_customers(actor_of(store_manager))) == sorted(
        [mine.pk, colleague.pk, unowned_in_store.pk]
    )
    for user in (operator, analyst, owner):
        assert ids(visible_customers(actor_of(user))) == sorted(c.pk for c in everyone)

    assert get_customer(actor_of(clerk), mine.pk) == mine
    for user, hidden in ((clerk, colleague), (store_manager, far), (clerk, platform)):
        with pytest.raises(NotFound):
            get_customer(actor_of(user), hidden.pk)


def test_a_shopper_or_anonymous_actor_sees_no_customers(register):
    from siyu.core.access import Actor

    c = register()
    for actor in (Actor.for_customer(c.pk), Actor.anonymous()):
        with pytest.raises(PermissionDenied):
            visible_customers(actor)


def test_search_box_understands_phones_tail_numbers_ids_and_names(system, register):
    wang = register("王芳", "13912345678", identities={"tmall_buyer": "tb_wangfang"})
    wang2 = register("王小明", "13800005678")
    li = register("李娜", "13700000001")
    find = lambda q: ids(search_customers(system, CustomerFilters(q=q)))  # noqa: E731
    assert find("139 1234 5678") == [wang.pk]
    assert find("5678") == sorted([wang.pk, wang2.pk])  # 尾号
    assert find("王") == sorted([wang.pk, wang2.pk])
    assert find("王芳") == [wang.pk]
    assert find("tb_wangfang") == [wang.pk]
    assert find(f"#{li.pk}") == [li.pk]
    assert find("13900000000") == []


def test_filters_combine(system, register, tag_groups, clerk, store):
    a = register(source="tmall", city="上海", owner=clerk)
    b = register(source="tmall", city="杭州")
    c = register(source="jd", city="上海")
    add_tag(a.pk, tag_groups["whitening"].pk, actor=system)
    add_tag(c.pk, tag_groups["whitening"].pk, actor=system)
    b.first_seen_at = timezone.now() - timedelta(days=40)
    b.save()

    def find(**kw):
        return ids(search_customers(system, CustomerFilters(**kw)))

    assert find(source="tmall") == sorted([a.pk, b.pk])
    assert find(tags=[tag_groups["whitening"].pk]) == sorted([a.pk, c.pk])
    assert find(source="tmall", tags=[tag_groups["whitening"].pk]) == [a.pk]
    assert find(owner=clerk.pk) == [a.pk]
    assert find(unowned=True) == sorted([b.pk, c.pk])
    assert find(store=store.pk) == [a.pk]
    assert find(city="上海") == sorted([a.pk, c.pk])
    today = timezone.localdate()
    assert find(until=today - timedelta(days=30)) == [b.pk]
    assert find(since=today) == sorted([a.pk, c.pk])


def test_filters_parse_from_query_parameters_and_name_bad_fields():
    from django.http import QueryDict

    f = CustomerFilters.from_params(
        QueryDict("q=%E7%8E%8B&source=jd&tag=3&tag=4&owner=none&since=2026-01-01")
    )
    assert (f.q, f.source, f.tags, f.unowned, f.since) == (
        "王",
        "jd",
        [3, 4],
        True,
        date(2026, 1, 1),
    )
    assert CustomerFilters.from_params(f.as_params()) == f
    with pytest.raises(ValidationFailed) as err:
        CustomerFilters.from_params({"source": "mars", "since": "yesterday", "store": "x"})
    assert set(err.value.fields) == {"source", "since", "store"}
