"""The example segments: saved by `siyu demo`, explained in docs/segments.md, timed by the bench.

docs/segments.md shows each rule as JSON; a test checks the two stay the same.
"""

from __future__ import annotations

EXAMPLES: list[dict] = [
    {
        "key": "replenishment_due",
        "name": "该补货了（可触达）",
        "description": "临近通常复购日、可通过企业微信或短信联系的客户：发补货提醒。",
        "rule": {
            "op": "and",
            "children": [
                {"field": "replenishment_due", "op": "is", "value": True},
                {"field": "contactable", "op": "in", "value": ["wecom", "sms"]},
            ],
        },
    },
    {
        "key": "high_value_at_risk",
        "name": "高价值流失风险",
        "description": "用户价值前 30%、但仍活跃概率低于一半或已进入流失风险阶段的客户：导购一对一回访。",
        "rule": {
            "op": "and",
            "children": [
                {"field": "value_score", "op": "gte", "value": 70},
                {
                    "op": "or",
                    "children": [
                        {"field": "p_alive", "op": "lt", "value": 0.5},
                        {"field": "lifecycle", "op": "in", "value": ["at_risk"]},
                    ],
                },
            ],
        },
    },
    {
        "key": "tmall_not_in_wecom",
        "name": "天猫买家未加企微",
        "description": "来自天猫或在天猫买过、还不能通过企业微信触达、也没有退订的客户：包裹卡和客服邀请加企微。",
        "rule": {
            "op": "and",
            "children": [
                {
                    "op": "or",
                    "children": [
                        {"field": "source", "op": "in", "value": ["tmall"]},
                        {"field": "bought_platform", "op": "in", "value": ["tmall"]},
                    ],
                },
                {
                    "op": "not",
                    "children": [{"field": "contactable", "op": "in", "value": ["wecom"]}],
                },
                {"field": "opted_out", "op": "is", "value": False},
            ],
        },
    },
    {
        "key": "lapsed_repeat_buyers",
        "name": "半年未复购的老客",
        "description": "买过两次以上、但 180 天没再买的客户：唤醒活动。",
        "rule": {
            "op": "and",
            "children": [
                {"field": "orders", "op": "gte", "value": 2},
                {"field": "last_purchase", "op": "more_than_days_ago", "value": 180},
            ],
        },
    },
    {
        "key": "big_spenders_last_year",
        "name": "近一年消费满 1000 元",
        "description": "最近 365 天实付减退款满 1000 元的客户：会员日专属礼遇。",
        "rule": {"field": "spent", "op": "gte", "value": 100000, "within_days": 365},
    },
    {
        "key": "serum_not_cream",
        "name": "买过精华没买过面霜",
        "description": "一年内买过精华、从没买过面霜的客户：交叉销售面霜（同一批人卖更多商品）。",
        "rule": {
            "op": "and",
            "children": [
                {
                    "field": "bought_product",
                    "op": "in",
                    "value": ["SY-SER-30", "SY-SER-N50", "SY-SER-A30"],
                    "within_days": 365,
                },
                {"field": "bought_product", "op": "not_in", "value": ["SY-CRM-50"]},
            ],
        },
    },
]
