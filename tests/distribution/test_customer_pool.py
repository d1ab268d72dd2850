"""Distribution follows the customer pool: merges move referrals and roles, erasures forget them."""

from django.db import transaction

from siyu.core import events
from siyu.customers.events import CustomerErased, CustomersMerged
from siyu.distribution import services
from siyu.distribution.models import Binding, Commission, Distributor, LinkClick

from .conftest import make_customer, make_distributor, pay, place_order


def publish(event):
    with transaction.atomic():
        events.publish(event)


def test_a_merge_moves_the_binding_and_the_distributor_role(db):
    referrer = make_distributor("推荐人")
    old, survivor = make_customer("旧"), make_customer("新")
    services.record_click(referrer.code, customer_id=old.pk)
    seller = make_distributor("卖家")
    order = place_order(old, [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    publish(CustomersMerged(survivor_id=survivor.pk, merged_id=old.pk))
    assert services.current_binding(survivor.pk).distributor == referrer
    assert Commission.objects.filter(buyer=survivor).count() == 1

    shop_owner, other = make_distributor("店主"), make_customer("另一个")
    publish(CustomersMerged(survivor_id=other.pk, merged_id=shop_owner.customer_id))
    assert Distributor.objects.get(pk=shop_owner.pk).customer_id == other.pk


def test_a_merge_keeps_the_survivors_own_binding(db):
    a, b = make_distributor("甲"), make_distributor("乙")
    old, survivor = make_customer(), make_customer()
    services.record_click(a.code, customer_id=old.pk)
    services.record_click(b.code, customer_id=survivor.pk)
    publish(CustomersMerged(survivor_id=survivor.pk, merged_id=old.pk))
    assert services.current_binding(survivor.pk).distributor == b
    assert Binding.objects.filter(customer=survivor, ended_at__isnull=True).count() == 1


def test_when_both_were_distributors_the_merged_one_is_suspended(db):
    a, b = make_distributor("甲"), make_distributor("乙")
    publish(CustomersMerged(survivor_id=b.customer_id, merged_id=a.customer_id))
    assert Distributor.objects.get(pk=a.pk).status == "suspended"
    assert Distributor.objects.get(pk=b.pk).status == "active"


def test_an_erasure_forgets_referrals_but_keeps_the_books(db):
    seller = make_distributor("卖家")
    buyer = make_customer("买家")
    services.record_click(seller.code, customer_id=buyer.pk)
    order = place_order(buyer, [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    publish(CustomerErased(customer_id=buyer.pk))
    assert services.current_binding(buyer.pk) is None
    assert not LinkClick.objects.filter(customer=buyer).exists()
    assert Commission.objects.get(level=1).amount_fen == 1000
    publish(CustomerErased(customer_id=seller.customer_id))
    erased = Distributor.objects.get(pk=seller.pk)
    assert erased.status == "suspended" and erased.display_name == "—"
