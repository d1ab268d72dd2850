"""Demo shopper for the H5 mall: a fixed phone with an address book, so the demo has a person.

Log in at /m/login/ with DEMO_SHOPPER_PHONE; the code appears in the `siyu serve` terminal
("SMS to 138****8000 [login_code]: code=123456"). Any other mobile number works too and becomes
a new customer with source "mall".
"""

from __future__ import annotations

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext

from . import services
from .models import Address

DEMO_SHOPPER_PHONE = "13800138000"
DEMO_SHOPPER_NAME = "林小雨"


def build(ctx: DemoContext) -> None:
    from siyu.customers.services import ContactInput, register_contact

    registration = register_contact(
        ContactInput(
            source="mall",
            name=DEMO_SHOPPER_NAME,
            phone=DEMO_SHOPPER_PHONE,
            source_detail="demo shopper",
            touch_ref="mall-demo-shopper",
            city="上海",
            province="上海",
        ),
        actor=Actor.system("demo"),
    )
    customer = registration.customer
    ctx.shared["demo_shopper"] = customer
    if Address.objects.filter(customer=customer).exists():
        ctx.log("mall: demo shopper already present, skipped")
        return
    actor = Actor.for_customer(customer.pk)
    services.save_address(
        services.AddressInput(
            receiver_name=DEMO_SHOPPER_NAME,
            receiver_phone=DEMO_SHOPPER_PHONE,
            province="上海市",
            city="上海市",
            district="静安区",
            detail="南京西路1515号 嘉里中心 2座 1203",
            label="公司",
            is_default=True,
        ),
        actor=actor,
    )
    services.save_address(
        services.AddressInput(
            receiver_name=DEMO_SHOPPER_NAME,
            receiver_phone=DEMO_SHOPPER_PHONE,
            province="上海市",
            city="上海市",
            district="徐汇区",
            detail="衡山路 8 弄 3 号 502 室",
            label="家",
        ),
        actor=actor,
    )
    ctx.log(f"mall: demo shopper {DEMO_SHOPPER_PHONE} ({DEMO_SHOPPER_NAME}) with 2 addresses")
