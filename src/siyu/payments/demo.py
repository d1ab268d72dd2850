"""Demo payments: the WeChat Pay trail behind the demo's online orders.

Every paid order sold online (mall, live, clerk-assisted, group buys...) gets the payment that paid
it — provider `dev`, confirmed by a notification — and every refunded one the refund that returned
the money, with their histories, so the console's payment pages show a believable year.
"""

from __future__ import annotations

from datetime import timedelta

from siyu.core.demodata import DemoContext

ONLINE_CHANNELS = ("mall", "live", "clerk", "group_buy", "flash_sale", "distributor", "leader")
BATCH = 2000


def build(ctx: DemoContext) -> None:
    from siyu.orders.models import Order

    from .models import Payment, PaymentStatusChange, Refund, RefundStatusChange
    from .services import out_refund_no_for
    from .states import PaymentStatus, RefundStatus

    if Payment.objects.exists():
        ctx.log("payments: already present, skipped")
        return
    orders = (
        Order.objects.filter(channel__in=ONLINE_CHANNELS, paid_at__isnull=False, paid_fen__gt=0)
        .order_by("id")
        .only("id", "number", "customer_id", "paid_fen", "refunded_fen", "paid_at", "placed_at")
    )
    rng = ctx.rng
    methods = ["jsapi"] * 6 + ["miniprogram"] * 3 + ["h5"]
    made = refunds_made = 0
    batch: list = []

    def flush() -> None:
        nonlocal made, refunds_made
        if not batch:
            return
        Payment.objects.bulk_create([p for p, _o in batch], batch_size=BATCH)
        saved = {
            p.out_trade_no: p
            for p in Payment.objects.filter(out_trade_no__in=[p.out_trade_no for p, _o in batch])
        }
        history, refunds = [], []
        for payment, order in batch:
            payment = saved[payment.out_trade_no]
            started = order.placed_at + timedelta(seconds=rng.randrange(5, 90))
            history.append(_row(PaymentStatusChange, payment=payment, to="pending", at=started))
            history.append(
                _row(
                    PaymentStatusChange,
                    payment=payment,
                    frm="pending",
                    to="succeeded",
                    at=order.paid_at,
                    note="TRANSACTION.SUCCESS",
                )
            )
            if order.refunded_fen:
                if payment.status == PaymentStatus.REFUNDED:
                    history.append(
                        _row(
                            PaymentStatusChange,
                            payment=payment,
                            frm="succeeded",
                            to="refunded",
                            at=order.paid_at + timedelta(days=3),
                        )
                    )
                key = f"demo-{order.number}"
                refunds.append(
                    Refund(
                        refund_key=key,
                        out_refund_no=out_refund_no_for(key),
                        payment=payment,
                        order_id=order.pk,
                        origin="order",
                        status=RefundStatus.SUCCEEDED,
                        amount_fen=order.refunded_fen,
                        reason="7天无理由退货",
                        refund_id=f"50{rng.randrange(10**20):020d}",
                        provider_status="SUCCESS",
                        user_received_account="支付用户零钱",
                        attempts=1,
                        succeeded_at=order.paid_at + timedelta(days=3),
                        created_at=order.paid_at + timedelta(days=2),
                    )
                )
        PaymentStatusChange.objects.bulk_create(history, batch_size=BATCH)
        if refunds:
            Refund.objects.bulk_create(refunds, batch_size=BATCH)
            refund_history = []
            for refund in Refund.objects.filter(refund_key__in=[r.refund_key for r in refunds]):
                refund_history += [
                    _row(RefundStatusChange, refund=refund, to="pending", at=refund.created_at),
                    _row(
                        RefundStatusChange,
                        refund=refund,
                        frm="pending",
                        to="processing",
                        at=refund.created_at + timedelta(seconds=2),
                    ),
                    _row(
                        RefundStatusChange,
                        refund=refund,
                        frm="processing",
                        to="succeeded",
                        at=refund.succeeded_at,
                        note="REFUND.SUCCESS",
                    ),
                ]
            RefundStatusChange.objects.bulk_create(refund_history, batch_size=BATCH)
            refunds_made += len(refunds)
        made += len(batch)
        batch.clear()

    for order in orders.iterator(chunk_size=BATCH):
        refunded_all = order.refunded_fen >= order.paid_fen
        payment = Payment(
            out_trade_no=f"P{order.paid_at:%y%m%d%H%M%S}{order.pk:08d}",
            order_id=order.pk,
            customer_id=order.customer_id,
            provider="dev",
            method=rng.choice(methods),
            status=PaymentStatus.REFUNDED if refunded_all else PaymentStatus.SUCCEEDED,
            amount_fen=order.paid_fen,
            description=order.number,
            applied_to_order=True,
            transaction_id=f"4200{order.paid_at:%Y%m%d}{rng.randrange(10**16):016d}",
            payer_total_fen=order.paid_fen,
            expires_at=order.placed_at + timedelta(minutes=30),
            paid_at=order.paid_at,
            refunded_fen=min(order.refunded_fen, order.paid_fen),
            provider_state="REFUND" if order.refunded_fen else "SUCCESS",
            created_at=order.placed_at,
        )
        batch.append((payment, order))
        if len(batch) >= BATCH:
            flush()
    flush()
    ctx.log(f"payments: {made} payments, {refunds_made} refunds")


def _row(model, *, to: str, at, frm: str = "", note: str = "", **subject):
    return model(
        **subject,
        from_status=frm,
        to_status=to,
        actor_kind="system",
        actor_label="dev notification" if note else "demo",
        note=note,
        created_at=at,
    )
