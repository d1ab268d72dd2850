"""Demo stores and staff: one owner, an operator, an analyst, a manager and clerks per store."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password

from siyu.core.access import Role
from siyu.core.demodata import DEMO_PASSWORD, DemoContext

from .models import Store, User

STORES = [
    ("SH-JA", "上海静安嘉里中心店", "上海", "静安区南京西路1515号"),
    ("SH-XH", "上海徐汇港汇恒隆店", "上海", "徐汇区虹桥路1号"),
    ("HZ-WL", "杭州湖滨银泰店", "杭州", "上城区东坡路7号"),
    ("CD-TG", "成都太古里店", "成都", "锦江区中纱帽街8号"),
]
CLERK_NAMES = [
    "王芳",
    "李娜",
    "张敏",
    "刘洋",
    "陈静",
    "杨磊",
    "赵丽",
    "黄婷",
    "周杰",
    "吴倩",
    "徐晨",
    "孙悦",
]


def build(ctx: DemoContext) -> None:
    if User.objects.filter(username="demo").exists():
        ctx.log("staff: already present, skipped")
        return
    password = make_password(DEMO_PASSWORD)
    stores = [
        Store.objects.create(code=c, name=n, city=city, address=a) for c, n, city, a in STORES
    ]
    users = [
        User(
            username="demo",
            display_name="品牌负责人",
            role=Role.OWNER,
            is_staff=True,
            is_superuser=True,
        ),
        User(username="operator", display_name="运营小周", role=Role.OPERATOR),
        User(username="analyst", display_name="数据分析师", role=Role.ANALYST),
    ]
    names = iter(CLERK_NAMES)
    for i, store in enumerate(stores, start=1):
        users.append(
            User(
                username=f"manager{i}",
                display_name=f"{store.city}店长{i}",
                role=Role.STORE_MANAGER,
                store=store,
            )
        )
        for _ in range(3):
            n = len([u for u in users if u.role == Role.CLERK]) + 1
            users.append(
                User(username=f"clerk{n}", display_name=next(names), role=Role.CLERK, store=store)
            )
    for u in users:
        u.password = password
    User.objects.bulk_create(users)
    ctx.shared["stores"] = list(Store.objects.all())
    ctx.shared["clerks"] = list(User.objects.filter(role=Role.CLERK).select_related("store"))
    ctx.log(f"staff: {len(stores)} stores, {len(users)} staff (password {DEMO_PASSWORD})")
