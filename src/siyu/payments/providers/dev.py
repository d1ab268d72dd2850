"""The `dev` provider: our WeChat Pay adapter's own code talking to the local stand-in (devpay).

Requests are built, errors mapped and notifications verified exactly as for WeChat Pay (the same
classes, the SDK in public-key mode with the dev keys); only the transport differs — calls go to
`devpay` in-process instead of over HTTPS.
"""

from __future__ import annotations

import threading
from urllib.parse import quote

from django.conf import settings
from wechatpayv3 import WeChatPay, WeChatPayType

from .. import devpay
from .base import PaymentLaunch, PaymentProvider, PaymentRequest
from .wechat import WeChatV3Calls, WeChatV3Notifications


class DevPayProvider(WeChatV3Notifications, WeChatV3Calls, PaymentProvider):
    name = "dev"

    def __init__(self, *, notify_url: str = "") -> None:
        keys = devpay.keys()
        self.mchid = devpay.MCHID
        self.appid = devpay.APPID
        self.apiv3_key = devpay.apiv3_key()
        self.public_key_id = keys.public_key_id
        self.notify_url = notify_url
        self._verify_lock = threading.Lock()
        # Public-key mode: the SDK never fetches certificates, so it never touches the network.
        self.client = WeChatPay(
            wechatpay_type=WeChatPayType.JSAPI,
            mchid=self.mchid,
            private_key=keys.merchant_key_pem,
            cert_serial_no=keys.merchant_serial,
            appid=self.appid,
            apiv3_key=self.apiv3_key,
            notify_url=notify_url or "http://localhost/m/payments/notify/dev/",
            public_key=keys.platform_public_pem,
            public_key_id=keys.public_key_id,
        )

    @classmethod
    def from_settings(cls) -> DevPayProvider:
        return cls(notify_url=settings.SIYU_DEV_PAY_NOTIFY_URL)

    def accepts_serial(self, serial: str) -> bool:
        return serial == self.public_key_id

    def _call(self, fn, /, **kwargs):
        return devpay.API[fn.__name__](**kwargs)

    def _launch(self, request: PaymentRequest, prepay_id: str, h5_url: str) -> PaymentLaunch:
        launch = super()._launch(request, prepay_id, h5_url)
        if launch.redirect_url:
            return launch
        # Outside WeChat there is no WeixinJSBridge: the dev cashier stands in for WeChat's sheet.
        cashier = devpay.cashier_path(prepay_id)
        if request.return_url:
            cashier += f"&redirect_url={quote(request.return_url, safe='')}"
        return PaymentLaunch(
            prepay_id=launch.prepay_id, jsapi_params=launch.jsapi_params, redirect_url=cashier
        )
